"""The props of the rating panel element (public/elements/RatingPanel.jsx).

The panel appears under a turn once both answers have ended. Until the rater's vote is stored
the panel carries no model names; afterwards ``revealed`` holds them.
"""

from __future__ import annotations

from typing import Any

from playground.core.vocabulary import WINNER_KEYS, WINNER_LABELS, WINNERS
from playground.store.tables import SCORE_MAX, SCORE_MIN

# The panel's buttons, from the one vocabulary (the browser tests find them by these ids).
VOTES = [{"value": w, "label": WINNER_LABELS[w], "testid": f"vote-{WINNER_KEYS[w]}"} for w in WINNERS]
SCALE = list(range(SCORE_MIN, SCORE_MAX + 1))


def rating_panel_props(
    turn_id: int,
    *,
    saved: dict[str, Any] | None = None,
    revealed: dict[str, str] | None = None,
    message: str = "",
    error: str = "",
    checks: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "turnId": turn_id,
        "votes": VOTES,
        "scale": SCALE,
        "saved": saved,  # {"winner", "comment", "a": {...}, "b": {...}} once stored
        "revealed": revealed,
        "checks": checks,  # per side, the automatic check's verdict (shown with the names)
        "message": message,
        "error": error,
    }
