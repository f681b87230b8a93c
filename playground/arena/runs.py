"""What batch runs and needle sweeps share: an outcome per item, the run's tally, the problems of a
stored turn in words, and running items a few at a time so that one broken item cannot stop the
rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from playground.core.generation import GenerationRecord
from playground.core.vocabulary import Side


@dataclass
class ItemOutcome:
    item_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)  # "side b (model): the error"


Outcome = TypeVar("Outcome", bound=ItemOutcome)
Item = TypeVar("Item")


@dataclass
class RunTally(Generic[Outcome]):
    models: tuple[str, ...]
    total: int  # items (or cells) in the set (or grid)
    skipped: int  # already done before this run
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def turn_problems(records: Mapping[Side, GenerationRecord]) -> list[str]:
    """What went wrong on each side of a turn that did not end normally there."""
    return [f"side {side} ({r.model}): {r.error or r.status}" for side, r in sorted(records.items())
            if r.status != "done"]


async def run_each(
    items: Sequence[Item], concurrency: int, run_one: Callable[[Item], Awaitable[Outcome]],
    broken: Callable[[Item, Exception], Outcome], tally: RunTally[Outcome],
    on_outcome: Callable[[Outcome], None] | None = None,
) -> None:
    """Run ``items`` ``concurrency`` at a time into ``tally``; an item whose run raises gets the
    outcome ``broken`` makes of the error, and the others go on."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> None:
        async with gate:
            try:
                outcome = await run_one(item)
            except Exception as exc:  # one broken item must not stop the run
                outcome = broken(item, exc)
        tally.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    await asyncio.gather(*(one(item) for item in items))
