"""``playground batch``: every item of a prompt set through both models, stored as batch turns.

Items are run ``concurrency`` at a time (a vLLM server batches concurrent requests; a local
transformers model takes them one after another). Each item is stored as soon as both sides end,
so an interrupted run loses at most the items in flight, and a later run skips the items already
answered completely by the same two models. An item that fails on either side is stored too
(with its error) and reported, and the run goes on; it is tried again on the next run.
Sides are drawn at random per item, so that position bias cannot favour one model.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.evalsets.prompt_sets import PromptItem, PromptSet
from playground.store.database import Database
from playground.store.queue import batch_rater_id, done_items


@dataclass
class ItemOutcome:
    item_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)  # "side b (model): the error"


@dataclass
class BatchResult:
    prompt_set: str
    models: tuple[str, str]
    total: int
    skipped: int  # already done before this run
    outcomes: list[ItemOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[ItemOutcome]:
        return [o for o in self.outcomes if not o.ok]


async def run_item(
    db: Database, owner: int, config: PlaygroundConfig, pool: BackendPool, prompt_set: PromptSet,
    item: PromptItem, models: tuple[str, str], settings: TurnSettings, rng: random.Random,
) -> ItemOutcome:
    seats = list(models)
    rng.shuffle(seats)
    duel = Duel.seated(config, pool, seats[0], seats[1], blind=True)
    run = TurnRun(db, duel, ConversationSeat(f"batch-{uuid.uuid4()}", owner, kind="batch"),
                  TurnInput.from_item(prompt_set.name, item), settings)
    await run.open()
    await run.play()
    problems = [f"side {side} ({r.model}): {r.error or r.status}" for side, r in sorted(run.turn.records().items())
                if r.status != "done"]
    return ItemOutcome(item.id, not problems, problems)


async def run_batch(
    db: Database, config: PlaygroundConfig, pool: BackendPool, prompt_set: PromptSet,
    models: tuple[str, str], *, concurrency: int = 4, settings: TurnSettings = TurnSettings(),
    limit: int | None = None, seed: int | None = None,
    on_start: Callable[[int], None] | None = None, on_item: Callable[[ItemOutcome], None] | None = None,
) -> BatchResult:
    """Run the items of ``prompt_set`` not yet done by ``models``; ``limit`` caps how many this
    run takes on. ``on_start`` hears how many will run, ``on_item`` each outcome as it ends."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    done = await done_items(db, prompt_set.name, models)
    todo = [item for item in prompt_set.items if item.id not in done]
    if limit is not None:
        todo = todo[:limit]
    result = BatchResult(prompt_set.name, models, total=len(prompt_set.items), skipped=len(done))
    if on_start:
        on_start(len(todo))
    owner = await batch_rater_id(db)
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: PromptItem) -> None:
        async with gate:
            try:
                outcome = await run_item(db, owner, config, pool, prompt_set, item, models, settings,
                                         random.Random(rng.random()))
            except Exception as exc:  # one broken item must not stop the run
                outcome = ItemOutcome(item.id, False, [f"{type(exc).__name__}: {exc}"])
        result.outcomes.append(outcome)
        if on_item:
            on_item(outcome)

    await asyncio.gather(*(one(item) for item in todo))
    return result
