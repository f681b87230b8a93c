"""Helpers for driving a backend's stream the way Stop does."""

from __future__ import annotations

from playground.backends.base import Backend
from playground.core.events import ChatMessage, ReasoningDelta, SamplingParams, TextDelta


async def read_then_close(backend: Backend, messages: list[ChatMessage], pieces: int = 3) -> None:
    """Start a long answer, read a few pieces of it, then close the stream (what Stop does).

    Reasoning counts as a piece too: a sampled demo answer may open a ``<think>`` block and keep
    every later token in it, and waiting for answer text would then wait for the whole answer."""
    stream = backend.stream(messages, SamplingParams(temperature=0.8, max_tokens=1900))
    seen = 0
    async for event in stream:
        seen += isinstance(event, (TextDelta, ReasoningDelta))
        if seen == pieces:
            break
    await stream.aclose()  # type: ignore[attr-defined]
