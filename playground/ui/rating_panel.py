"""The props of the rating panel element (public/elements/RatingPanel.jsx).

The panel appears under a turn once both answers have ended. Until the rater's vote is stored
the panel carries no model names; afterwards ``revealed`` holds them. Every label it shows comes
from here, in the rater's language (playground/ui/i18n.py), so the element holds no English.
"""

from __future__ import annotations

from typing import Any

from playground.core.vocabulary import SIDES, WINNER_KEYS, WINNERS, Winner
from playground.store.tables import SCORE_MAX, SCORE_MIN
from playground.ui.i18n import Language, text
from playground.ui.language import current_language

# The key that casts each vote (a / b / t / x: A better, B better, tie, both bad), in WINNERS' order.
VOTE_KEYS: dict[Winner, str] = dict(zip(WINNERS, ("a", "b", "t", "x"), strict=True))
SCALE = list(range(SCORE_MIN, SCORE_MAX + 1))
# The panel's own labels: catalogue key "rating.<name>" for each.
PANEL_LABELS = ("accuracy", "fluency", "comment", "submit", "update", "not_saved", "hint")


def votes(language: Language = "en") -> list[dict[str, str]]:
    """The panel's vote buttons, from the one vocabulary (the browser tests find them by these ids)."""
    return [{"value": w, "label": text(language, f"vote.{w}"), "testid": f"vote-{WINNER_KEYS[w]}",
             "key": VOTE_KEYS[w]} for w in WINNERS]


VOTES = votes()


def rating_panel_props(
    turn_id: int,
    *,
    saved: dict[str, Any] | None = None,
    revealed: dict[str, str] | None = None,
    message: str = "",
    error: str = "",
    checks: dict[str, str] | None = None,
    language: Language | None = None,
) -> dict[str, Any]:
    """``language``: the labels' (default: this Chainlit session's)."""
    language = language or current_language()
    return {
        "turnId": turn_id,
        "votes": votes(language),
        "scale": SCALE,
        "saved": saved,  # {"winner", "comment", "a": {...}, "b": {...}} once stored
        "revealed": revealed,
        "checks": checks,  # per side, the automatic check's verdict (shown with the names)
        "message": message,
        "error": error,
        "sides": {side: text(language, "pane.label", side=side.upper()) for side in SIDES},
        "labels": {name: text(language, f"rating.{name}") for name in PANEL_LABELS},
    }
