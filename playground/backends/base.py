"""The protocol every backend implements: stream typed events for a chat, and count tokens the
way its model does (for the context budget of long documents)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol

from playground.core.events import BackendEvent, ChatMessage, SamplingParams


class TokenCountUnavailable(RuntimeError):
    """This backend cannot count tokens as its model does (no /tokenize on the server and no
    tokenizer configured); the message says which and what to configure."""


@dataclass(frozen=True)
class ContextWindow:
    tokens: int
    source: Literal["server", "config"]  # read live from the server (vLLM max_model_len), or the config's


class Backend(Protocol):
    name: str

    def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        """Yield text/reasoning deltas, then exactly one Done or ErrorEvent.

        Failures are yielded as ErrorEvent, never raised. Closing the iterator early (Stop)
        releases whatever the backend holds: the HTTP stream, the worker thread.
        """
        ...

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        """Tokens of the whole prompt as the model will receive it (chat template applied, with
        the generation prompt and ``params.chat_template_kwargs``). Raises TokenCountUnavailable."""
        ...

    async def encode(self, text: str) -> list[int]:
        """Token ids of plain text (no special tokens, no template). Raises TokenCountUnavailable."""
        ...

    async def decode(self, tokens: list[int]) -> str:
        """Text of token ids (the inverse of encode). Raises TokenCountUnavailable."""
        ...

    async def context_window(self) -> ContextWindow:
        """The model's context window: live from the server when it reports one, else the config's."""
        ...
