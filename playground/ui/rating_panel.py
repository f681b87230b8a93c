"""The props of the rating panel element (public/elements/RatingPanel.jsx).

The panel appears under a turn once both answers have ended. Until the rater's vote is stored
the panel carries no model names; afterwards ``revealed`` holds them.
"""

from __future__ import annotations

from typing import Any


def rating_panel_props(
    turn_id: int,
    *,
    saved: dict | None = None,
    revealed: dict[str, str] | None = None,
    message: str = "",
    error: str = "",
    checks: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "turnId": turn_id,
        "saved": saved,  # {"winner", "comment", "a": {...}, "b": {...}} once stored
        "revealed": revealed,
        "checks": checks,  # per side, the automatic check's verdict (shown with the names)
        "message": message,
        "error": error,
    }
