"""``playground batch``: every item of a prompt set through both models, stored as batch turns.

Items are run ``concurrency`` at a time (a vLLM server batches concurrent requests; a local
transformers model takes them one after another). Each item is stored as soon as both sides end,
so an interrupted run loses at most the items in flight, and a later run skips the items already
answered completely by the same two models. An item that fails on either side is stored too
(with its error) and reported, and the run goes on; it is tried again on the next run.
Sides are drawn at random per item, so that position bias cannot favour one model.

Over more than two models, each item gets a pair drawn from the probabilities the caller passes
(``pairs``: uniform, or adaptive as computed from the stored votes before the run), stored with
the item's conversation like a chat's; an item counts as done when any pair of these models
answered it completely.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.arena.pairs import PairDistribution
from playground.arena.runs import ItemOutcome, RunTally, run_each, turn_problems
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.evalsets.prompt_sets import PromptItem, PromptSet
from playground.store.database import Database
from playground.store.queue import batch_rater_id, done_items


@dataclass
class BatchResult(RunTally[ItemOutcome]):
    prompt_set: str = ""


async def run_item(
    db: Database, owner: int, config: PlaygroundConfig, pool: BackendPool, prompt_set: PromptSet,
    item: PromptItem, pairs: PairDistribution, settings: TurnSettings, rng: random.Random,
) -> ItemOutcome:
    pair = pairs.draw(rng)
    seats = list(pair.models)
    rng.shuffle(seats)
    duel = Duel.seated(config, pool, seats[0], seats[1], blind=True)
    duel.pair = pair
    run = TurnRun(db, duel, ConversationSeat(f"batch-{uuid.uuid4()}", owner, kind="batch"),
                  TurnInput.from_item(prompt_set.name, item), settings)
    await run.play()
    problems = turn_problems(run.turn.records())
    return ItemOutcome(item.id, not problems, problems)


async def run_batch(
    db: Database, config: PlaygroundConfig, pool: BackendPool, prompt_set: PromptSet,
    models: Sequence[str], *, concurrency: int = 4, settings: TurnSettings = TurnSettings(),
    limit: int | None = None, seed: int | None = None,
    on_start: Callable[[int], None] | None = None, on_item: Callable[[ItemOutcome], None] | None = None,
    pairs: PairDistribution | None = None,
) -> BatchResult:
    """Run the items of ``prompt_set`` not yet done by a pair of ``models``; ``limit`` caps how
    many this run takes on. ``pairs``: each item's pair is drawn from it (default: two models are
    a fixed pair, more are drawn uniformly). ``on_start`` hears how many will run, ``on_item``
    each outcome as it ends."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    models = tuple(dict.fromkeys(models))
    if len(models) < 2:
        raise ValueError("a batch run needs at least two models")
    if pairs is None:
        pairs = PairDistribution.fixed(*models) if len(models) == 2 else PairDistribution.uniform(models)
    if not {m for pair in pairs.probabilities for m in pair} <= set(models):
        raise ValueError("the pair probabilities name models outside the run's")
    done: set[str] = set()
    for pair in combinations(models, 2):
        done |= await done_items(db, prompt_set.name, pair)
    todo = [item for item in prompt_set.items if item.id not in done]
    if limit is not None:
        todo = todo[:limit]
    result = BatchResult(models, total=len(prompt_set.items), skipped=len(done), prompt_set=prompt_set.name)
    if on_start:
        on_start(len(todo))
    owner = await batch_rater_id(db)
    rng = random.Random(seed)

    async def one(item: PromptItem) -> ItemOutcome:
        return await run_item(db, owner, config, pool, prompt_set, item, pairs, settings, random.Random(rng.random()))

    def broken(item: PromptItem, exc: Exception) -> ItemOutcome:
        return ItemOutcome(item.id, False, [f"{type(exc).__name__}: {exc}"])

    await run_each(todo, concurrency, one, broken, result, on_item)
    return result
