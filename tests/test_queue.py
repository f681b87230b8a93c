"""The rating queue on real SQLite and PostgreSQL: overlap, splitting, and who may rate what."""

from __future__ import annotations

import pytest

from playground.store.database import Database
from playground.store.queue import (
    BATCH_RATER,
    batch_rater_id,
    done_items,
    next_for_rater,
    queue_progress,
    store_batch_turn,
)
from playground.store.raters import add_rater, authenticate
from playground.store.ratings import RatingRefused, submit_rating
from playground.store.tables import Conversation, Vote

from .store_helpers import record, submission


async def batch_of(db: Database, items: int, prompt_set: str = "quick-20", failed: tuple[str, ...] = ()) -> list[int]:
    owner = await batch_rater_id(db)
    turns = []
    for i in range(items):
        item_id = f"q{i}"
        status = "error" if item_id in failed else "done"
        turn = await store_batch_turn(
            db, owner, prompt_set=prompt_set, item_id=item_id, category="math", prompt=f"question {i}",
            system_prompt="", settings={}, records={"a": record("a", "left"), "b": record("b", "right", status=status)},
            sampling={},
        )
        turns.append(turn.id)
    return turns  # type: ignore[return-value]


async def drain(db: Database, rater_id: int, overlap: int, prompt_set: str | None = "quick-20") -> list[int]:
    """What the queue hands this rater, rating each before asking for the next."""
    seen = []
    while (turn_id := await next_for_rater(db, rater_id, prompt_set, overlap)) is not None:
        assert turn_id not in seen
        seen.append(turn_id)
        await submit_rating(db, rater_id, submission(turn_id))
    return seen


async def test_overlap_two_gives_every_item_to_both_raters(db: Database) -> None:
    turns = await batch_of(db, 4)
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    assert await drain(db, ana.id, overlap=2) == turns  # type: ignore[arg-type]
    assert await drain(db, ben.id, overlap=2) == turns  # type: ignore[arg-type]
    progress = await queue_progress(db, ana.id, "quick-20", overlap=2)  # type: ignore[arg-type]
    assert (progress.rated_by_you, progress.fully_rated, progress.total) == (4, 4, 4)


async def test_overlap_one_splits_the_items(db: Database) -> None:
    turns = await batch_of(db, 6)
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    got: dict[int, list[int]] = {ana.id: [], ben.id: []}  # type: ignore[dict-item]
    for _ in range(3):  # taking turns, as two raters working at once would
        for rater in (ana.id, ben.id):
            turn_id = await next_for_rater(db, rater, "quick-20", overlap=1)  # type: ignore[arg-type]
            assert turn_id is not None
            got[rater].append(turn_id)  # type: ignore[index]
            await submit_rating(db, rater, submission(turn_id))  # type: ignore[arg-type]
    assert sorted(got[ana.id] + got[ben.id]) == turns and not set(got[ana.id]) & set(got[ben.id])  # type: ignore[index]
    assert await next_for_rater(db, ana.id, "quick-20", overlap=1) is None  # type: ignore[arg-type]
    progress = await queue_progress(db, ben.id, "quick-20", overlap=1)  # type: ignore[arg-type]
    assert (progress.rated_by_you, progress.fully_rated, progress.total) == (3, 6, 6)


async def test_an_open_item_is_handed_back_until_rated_and_failed_items_are_left_out(db: Database) -> None:
    turns = await batch_of(db, 3, failed=("q1",))
    ana = await add_rater(db, "ana", "pw-ana-1")
    first = await next_for_rater(db, ana.id, "quick-20", overlap=1)  # type: ignore[arg-type]
    assert first == turns[0]
    assert await next_for_rater(db, ana.id, "quick-20", overlap=1) == first  # type: ignore[arg-type]
    await submit_rating(db, ana.id, submission(first))  # type: ignore[arg-type]
    assert await next_for_rater(db, ana.id, "quick-20", overlap=1) == turns[2]  # type: ignore[arg-type]
    assert await done_items(db, "quick-20", ("right", "left")) == {"q0", "q2"}
    assert await done_items(db, "quick-20", ("left", "other")) == set()


async def test_only_raters_handed_an_item_may_rate_it_and_each_is_blind_once(db: Database) -> None:
    turns = await batch_of(db, 1)
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    with pytest.raises(RatingRefused, match="not handed to you by the rating queue"):
        await submit_rating(db, ana.id, submission(turns[0]))  # type: ignore[arg-type]
    await next_for_rater(db, ana.id, None, overlap=2)  # type: ignore[arg-type]
    first = await submit_rating(db, ana.id, submission(turns[0]))  # type: ignore[arg-type]
    changed = await submit_rating(db, ana.id, submission(turns[0], winner="tie"))  # type: ignore[arg-type]
    assert (first.blind, changed.blind) == (True, False)
    await next_for_rater(db, ben.id, None, overlap=2)  # type: ignore[arg-type]
    assert (await submit_rating(db, ben.id, submission(turns[0]))).blind  # type: ignore[arg-type]
    async with db.sessions() as session:
        from sqlmodel import select

        conversations = (await session.exec(select(Conversation))).all()
        votes = (await session.exec(select(Vote))).all()
    assert [c.revealed_at for c in conversations] == [None] and len(votes) == 2
    assert await authenticate(db, BATCH_RATER, "") is None
    assert await authenticate(db, BATCH_RATER, "!system account: no login") is None
