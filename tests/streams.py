"""Helpers for driving a backend's stream the way Stop does."""

from __future__ import annotations

from playground.backends.base import Backend
from playground.events import ChatMessage, SamplingParams, TextDelta


async def read_then_close(backend: Backend, messages: list[ChatMessage], pieces: int = 3) -> None:
    """Start a long answer, read a few pieces of text, then close the stream (what Stop does)."""
    stream = backend.stream(messages, SamplingParams(temperature=0.8, max_tokens=1900))
    seen = 0
    async for event in stream:
        seen += isinstance(event, TextDelta)
        if seen == pieces:
            break
    await stream.aclose()  # type: ignore[attr-defined]
