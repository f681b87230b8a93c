"""The words are defined once (playground/core/vocabulary.py): the database, the panel and the
statistics take them from there, and nothing spells them anew."""

from __future__ import annotations

import re
from pathlib import Path

from playground.core.vocabulary import FINAL_STATUSES, SIDES, WINNER_LABELS, WINNERS
from playground.store.tables import Response, Vote
from playground.ui.rating_panel import rating_panel_props

from .paths import PROJECT_ROOT


def _check_sql(table: type, name: str) -> str:
    for constraint in table.__table__.constraints:  # type: ignore[attr-defined]
        if constraint.name == name:
            return str(constraint.sqltext)
    raise AssertionError(f"no constraint {name}")


def test_the_database_constraints_list_exactly_the_vocabulary() -> None:
    assert re.findall(r"'([^']+)'", _check_sql(Vote, "ck_vote_winner")) == list(WINNERS)
    assert re.findall(r"'([^']+)'", _check_sql(Response, "ck_response_status")) == list(FINAL_STATUSES)
    assert re.findall(r"'([^']+)'", _check_sql(Response, "ck_response_side")) == list(SIDES)


def test_the_rating_panel_gets_its_votes_from_the_vocabulary_and_spells_none_itself() -> None:
    props = rating_panel_props(7)
    assert [v["value"] for v in props["votes"]] == list(WINNERS)
    assert [v["label"] for v in props["votes"]] == [WINNER_LABELS[w] for w in WINNERS]
    assert len({v["testid"] for v in props["votes"]}) == len(WINNERS)
    jsx = Path(PROJECT_ROOT / "public" / "elements" / "RatingPanel.jsx").read_text()
    for word in WINNERS:
        assert f'"{word}"' not in jsx, f"RatingPanel.jsx spells {word!r} itself"


def test_no_module_spells_a_winner_label_outside_the_vocabulary() -> None:
    spelled = []
    for path in (PROJECT_ROOT / "playground").rglob("*.py"):
        if path.name == "vocabulary.py" or "migrations" in path.parts:
            continue
        if '"tie (bothbad)"' in path.read_text(encoding="utf-8"):
            spelled.append(str(path.relative_to(PROJECT_ROOT)))
    assert spelled == []
