"""``playground needle``: a length x depth grid of needle-in-a-haystack questions to two models.

Each cell is one turn of its own conversation of kind "needle", run through the same TurnRun as
a batch item: the first model on the left, the second on the right (no rater sees these, so
there is no position bias to spread). Each side is sent a haystack built to the cell's length
with its own model's tokenizer (``side_documents`` when the two texts differ, one shared document
when the tokenizers agree), cut to its model's window by its truncation policy when it does not
fit (the stored context note then says what was kept: the needle may have been cut out, and that
is a result too). The automatic check stores whether each answer contains the code.

Resumable like a batch run: a cell is stored as soon as both sides end, and a later run skips the
cells already answered completely by the same two models. A cell that fails on either side is
stored with its error and reported; the next run tries it again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.arena.runs import ItemOutcome, RunTally, run_each, turn_problems
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.core.vocabulary import SIDES, Side, TruncationPolicy
from playground.evalsets.checks import check_answer
from playground.evalsets.needle import (
    GENERATED,
    NEEDLE_SET,
    QUESTION,
    BuiltHaystack,
    GridCell,
    HaystackSource,
    NeedleGridSpec,
    build_haystack,
)
from playground.store.database import Database
from playground.store.documents import DocumentText
from playground.store.needle_queries import done_cells
from playground.store.queue import batch_rater_id


@dataclass
class CellOutcome(ItemOutcome):
    found: dict[str, bool | None] = field(default_factory=dict)  # model -> did its answer contain the code
    tokens: dict[str, int] = field(default_factory=dict)  # model -> its haystack's tokens, its own tokenizer


NeedleRun = RunTally[CellOutcome]


def haystack_document(built: BuiltHaystack, source: HaystackSource) -> DocumentText:
    """A built haystack as a stored document (by content hash: the same text is stored once).
    Its name goes before the question too, so it says nothing about the needle."""
    data = built.text.encode("utf-8")
    origin = "haystack" if source.text is None else f"haystack from {source.name}"
    return DocumentText(hashlib.sha256(data).hexdigest(), f"{origin} ({built.tokens:,} tokens)"[:300],
                        "generated", built.text, len(data), None)


async def cell_input(duel: Duel, cell: GridCell, source: HaystackSource) -> tuple[TurnInput, dict[Side, BuiltHaystack]]:
    """The cell's question with each side's haystack built by its own backend's tokenizer."""
    built = {side: await build_haystack(duel.contenders[side].backend, cell.length, cell.needle, cell.depth,
                                        source, seed=cell.repeat)
             for side in SIDES}
    documents = {side: haystack_document(built[side], source) for side in SIDES}
    item = cell.prompt_item()
    if documents["a"].id == documents["b"].id:  # the same tokenization: one document for both
        return TurnInput(QUESTION, prompt_set=NEEDLE_SET, item=item, documents=(documents["a"],)), built
    return TurnInput(QUESTION, prompt_set=NEEDLE_SET, item=item,
                     side_documents={side: (documents[side],) for side in SIDES}), built


async def run_cell(
    db: Database, owner: int, config: PlaygroundConfig, pool: BackendPool, models: tuple[str, str],
    cell: GridCell, source: HaystackSource, settings: TurnSettings, policy: TruncationPolicy | None,
) -> CellOutcome:
    duel = Duel.seated(config, pool, models[0], models[1], blind=False)
    request, built = await cell_input(duel, cell, source)
    policies = {side: policy for side in SIDES} if policy is not None else None
    run = TurnRun(db, duel, ConversationSeat(f"needle-{uuid.uuid4()}", owner, kind="needle"), request, settings,
                  policies=policies)
    await run.play()
    records = run.turn.records()
    problems = turn_problems(records)
    item = cell.prompt_item()
    # The same check the lifecycle stored with each answer (an answer that did not end normally: None).
    found = {r.model: check_answer(r.text, item).reference_match if r.status == "done" else None
             for r in records.values()}
    return CellOutcome(cell.item_id, not problems, problems, found,
                       {duel.contenders[side].model: built[side].tokens for side in SIDES})


async def check_tokenizers(pool: BackendPool, models: tuple[str, str]) -> None:
    """Raise TokenCountUnavailable (saying what to configure) when a model cannot count tokens:
    an exact-length haystack needs its tokenizer, and this is better known before any cell."""
    for model in models:
        await pool.get(model).encode("The vault code")


async def run_needle(
    db: Database, config: PlaygroundConfig, pool: BackendPool, models: tuple[str, str], grid: NeedleGridSpec,
    *, source: HaystackSource = GENERATED, policy: TruncationPolicy | None = None,
    settings: TurnSettings = TurnSettings(), concurrency: int = 1,
    on_start: Callable[[int], None] | None = None, on_cell: Callable[[CellOutcome], None] | None = None,
) -> NeedleRun:
    """Run the cells of ``grid`` not yet done by ``models`` with ``source`` as the haystack.

    ``policy`` replaces both models' truncation policies (None: each model's from the config).
    ``concurrency`` cells at a time (default one: long prompts are heavy, and one at a time keeps
    each cell's timings its own). ``on_start`` hears how many cells will run, ``on_cell`` each
    outcome as it ends. Raises TokenCountUnavailable before any cell when a model cannot count."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if models[0] == models[1]:
        raise ValueError(f"a sweep compares two different models, not {models[0]!r} with itself")
    await check_tokenizers(pool, models)
    cells = grid.cells(source.key)
    done = await done_cells(db, models)
    todo = [cell for cell in cells if cell.item_id not in done]
    result = NeedleRun(models, total=len(cells), skipped=len(cells) - len(todo))
    if on_start:
        on_start(len(todo))
    owner = await batch_rater_id(db)

    async def one(cell: GridCell) -> CellOutcome:
        return await run_cell(db, owner, config, pool, models, cell, source, settings, policy)

    def broken(cell: GridCell, exc: Exception) -> CellOutcome:
        return CellOutcome(cell.item_id, False, [f"{type(exc).__name__}: {exc}"])

    await run_each(todo, concurrency, one, broken, result, on_cell)
    return result
