"""The props of the side-by-side element: what the browser may know about each pane.

In blind mode the real model names never reach the browser: a pane is "Model A" or "Model B"
until the rating issue's reveal. Markdown is rendered here, with raw HTML disabled, so that a
model's output cannot inject markup into the page.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

from playground.core.events import Side
from playground.core.generation import Generation, GenerationRecord

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")


def render_markdown(text: str) -> str:
    return _MARKDOWN.render(text)


def pane_stats(record: GenerationRecord) -> str:
    """TTFT and tokens/s, shown under a finished answer."""
    parts = []
    if record.ttft_s is not None:
        parts.append(f"TTFT {record.ttft_s:.2f} s")
    if record.tokens_per_s is not None:
        parts.append(f"{record.tokens_per_s:.1f} tok/s")
    if record.output_tokens:
        parts.append(f"{record.output_tokens} tokens")
    return " · ".join(parts)


def pane_props(
    side: Side, source: Generation | GenerationRecord, reveal_name: bool
) -> dict[str, Any]:
    """One pane, from a live generation or a stored record (a resumed conversation)."""
    record = source.record() if isinstance(source, Generation) else source
    return {
        "label": f"Model {side.upper()}",
        "model": record.model if reveal_name else None,
        "html": render_markdown(record.text),
        "reasoning": record.reasoning,
        "status": "streaming" if record.status == "waiting" else record.status,
        "error": record.error,
        "stats": pane_stats(record) if record.status in ("done", "stopped") else "",
    }


def duel_props(
    sides: dict[Side, Generation] | dict[Side, GenerationRecord], blind: bool
) -> dict[str, Any]:
    return {
        "panes": {side: pane_props(side, source, reveal_name=not blind) for side, source in sides.items()}
    }
