"""The small typed events every backend yields, and the chat message and sampling types.

Backends are dumb: they only yield these. Timing, accumulation and persistence belong to
:class:`playground.core.generation.Generation`, which consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from playground.core.vocabulary import Side

FinishReason = Literal["stop", "length", "stopped", "error"]


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class Done:
    finish_reason: FinishReason
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    # Prompt tokens the server took from its prefix cache (vLLM reports it only when started with
    # --enable-prompt-tokens-details); None when not reported.
    cached_tokens: int | None = None
    kind: Literal["done"] = "done"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    message: str
    kind: Literal["error"] = "error"


BackendEvent = TextDelta | ReasoningDelta | Done | ErrorEvent


@dataclass(frozen=True, slots=True)
class SideEvent:
    """A backend event tagged with the side (pane) it belongs to, so two streams merge simply."""

    side: Side
    event: BackendEvent
