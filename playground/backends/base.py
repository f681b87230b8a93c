"""The protocol every backend implements: stream typed events for a chat."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from playground.core.events import BackendEvent, ChatMessage, SamplingParams


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
