"""The props of the side-by-side element: what the browser may know about each pane.

In blind mode the real model names never reach the browser: a pane is "Model A" or "Model B"
until the rating issue's reveal. Markdown is rendered here, with raw HTML disabled, so that a
model's output cannot inject markup into the page, and images shown as links, so that it cannot
make the rater's browser fetch a URL either (``markdown_stream``). While a turn streams, the element
is sent once with empty panes (:func:`streamed_duel_props`) and then only changes (``pane_delta``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from playground.arena.duel import DuelTurn
from playground.core.generation import Generation, GenerationRecord
from playground.core.vocabulary import Side
from playground.store.tables import Response
from playground.ui.i18n import Language, text
from playground.ui.language import current_language
from playground.ui.markdown_stream import render_markdown

__all__ = ["render_markdown"]  # the app's one markdown renderer, defined with the incremental one


def pane_stats(record: GenerationRecord, language: Language = "en") -> str:
    """TTFT and tokens/s, shown under a finished answer."""
    parts = []
    if record.ttft_s is not None:
        parts.append(text(language, "pane.ttft", seconds=f"{record.ttft_s:.2f}"))
    if record.tokens_per_s is not None:
        parts.append(text(language, "pane.rate", rate=f"{record.tokens_per_s:.1f}"))
    if record.output_tokens:
        parts.append(text(language, "pane.tokens", tokens=record.output_tokens))
    if record.cached_tokens:  # the server's prefix cache: a follow-up on the same document
        parts.append(text(language, "pane.cached", tokens=f"{record.cached_tokens:,}"))
    return " · ".join(parts)


@dataclass(frozen=True)
class PaneContext:
    """What a pane says about its model's context: the prompt's tokens of the window, what was
    cut or why nothing was sent, and since when the model has been reading (for prefill)."""

    tokens: int | None  # the prompt as sent (or counted, when refused)
    window: int | None
    note: str = ""
    reading_since_ms: float | None = None  # epoch ms when the prompt was sent (None: not live)

    def props(self, language: Language = "en") -> dict[str, Any]:
        line = ""
        if self.tokens is not None and self.window is not None:
            line = text(language, "pane.context", tokens=f"{self.tokens:,}", window=f"{self.window:,}")
        return {"line": line, "note": self.note, "tokens": self.tokens, "readingSinceMs": self.reading_since_ms}


def pane_props(
    side: Side, source: Generation | GenerationRecord, reveal_name: bool, context: PaneContext | None = None,
    language: Language = "en", html: str | None = None,
) -> dict[str, Any]:
    """One pane, from a live generation or a stored record (a resumed conversation). ``status`` is the
    stored word (it picks the colour); ``statusLabel`` is what the rater reads. ``html``: the text
    already rendered (incrementally, while it streams); by default rendered here."""
    record = source.record() if isinstance(source, Generation) else source
    status = "streaming" if record.status == "waiting" else record.status
    return {
        "label": text(language, "pane.label", side=side.upper()),
        "model": record.model if reveal_name else None,
        "html": render_markdown(record.text) if html is None else html,
        "reasoning": record.reasoning,
        "status": status,
        "statusLabel": text(language, f"pane.status.{status}"),
        "error": record.error,
        "stats": pane_stats(record, language) if record.status in ("done", "stopped") else "",
        "context": context.props(language) if context is not None else None,
    }


# The labels the element's own code shows (SideBySide.jsx holds no English of its own).
PANE_LABELS = ("reasoning", "reading", "reading_tokens", "reading_prompt")


def duel_props(
    sides: Mapping[Side, Generation | GenerationRecord], blind: bool,
    contexts: Mapping[Side, PaneContext] | None = None, language: Language | None = None,
    html: Mapping[Side, str] | None = None,
) -> dict[str, Any]:
    """Both panes, with their labels in ``language`` (default: this Chainlit session's)."""
    language = language or current_language()
    return {
        "panes": {side: pane_props(side, source, reveal_name=not blind, context=(contexts or {}).get(side),
                                   language=language, html=(html or {}).get(side))
                  for side, source in sides.items()},
        "labels": {key: text(language, f"pane.{key}") for key in PANE_LABELS},
    }


def streamed_duel_props(
    sides: Mapping[Side, Generation | GenerationRecord], blind: bool, stream_id: str,
    language: Language | None = None,
) -> dict[str, Any]:
    """The element as first sent for a live turn: labels and empty panes, with the ``streamId``
    whose ``pane_delta`` events fill it (the rest of the fields come as deltas)."""
    language = language or current_language()
    props = duel_props(sides, blind, language=language, html=dict.fromkeys(sides, ""))
    keep = ("label", "model", "html", "reasoning", "status", "statusLabel", "stats", "error")
    props["panes"] = {side: {key: pane[key] for key in keep} for side, pane in props["panes"].items()}
    props["streamId"] = stream_id
    return props



def live_contexts(turn: DuelTurn) -> dict[Side, PaneContext]:
    """Each pane's context line while its turn runs: from the side's plan, once prepared."""
    sent_ms = turn.sent_at * 1000 if turn.sent_at is not None else None
    return {
        side: PaneContext(plan.sent_tokens if plan.sent_tokens is not None else plan.full_tokens, plan.window,
                          plan.note, None if plan.refused else sent_ms)
        for side, plan in turn.plans.items()
    }


def stored_contexts(responses: Mapping[str, Response] | Mapping[Side, Response]) -> dict[Side, PaneContext]:
    """The same lines for a stored turn (a reopened conversation)."""
    return {
        cast(Side, side): PaneContext(
            r.prompt_tokens_sent if r.prompt_tokens_sent is not None else r.prompt_tokens_full,
            r.context_window, r.context_note or "",
        )
        for side, r in responses.items() if r.context_policy is not None
    }
