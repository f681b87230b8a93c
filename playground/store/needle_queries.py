"""Needle-in-a-haystack cells read back from the store: which are done, and the hits per model,
length and depth (``playground needle``, the report and the app's heat maps).

A cell is one stored turn of a conversation of kind "needle" (prompt set "needle", item id
``L<length>-D<depth>-R<repeat>``, with ``-H<8 hex>`` when a user's document was the haystack).
Per model and cell, the latest answer that ended normally counts: a hit when its stored
``reference_match`` is true. A cell whose answers all ended in an error (a refused prompt, a
server down) counts as an error, not a miss: it was never answered and a later run retries it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select

from playground.evalsets.needle import NEEDLE_SET, GridCell, parse_cell_id
from playground.store.database import Database
from playground.store.tables import Conversation, Response, Turn


def _pair(models: Sequence[str]) -> ColumnElement[bool]:
    """Conversations between exactly these two models (either on the left), or, for another
    number of models, every conversation one of them took part in."""
    if len(models) == 2:
        first, second = models
        return or_(
            and_(col(Conversation.model_a) == first, col(Conversation.model_b) == second),
            and_(col(Conversation.model_a) == second, col(Conversation.model_b) == first),
        )
    return or_(col(Conversation.model_a).in_(list(models)), col(Conversation.model_b).in_(list(models)))


def _needle_turns() -> list[ColumnElement[bool]]:
    return [col(Conversation.kind) == "needle", col(Turn.prompt_set) == NEEDLE_SET]


async def done_cells(db: Database, models: tuple[str, str]) -> set[str]:
    """Item ids of the cells both of these models answered completely (both answers done) in one
    needle turn: a resumed sweep skips them."""
    complete = (
        select(func.count(col(Response.id)))
        .where(col(Response.turn_id) == col(Turn.id), col(Response.status) == "done")
        .scalar_subquery()
        == 2
    )
    query = (
        select(col(Turn.item_id))
        .join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
        .where(*_needle_turns(), _pair(models), complete)
    )
    async with db.reading() as session:
        return {item for item in (await session.exec(query)).all() if item is not None}


async def needle_pairs(db: Database) -> list[tuple[str, str]]:
    """The pairs of models that needle sweeps were run for (each pair once, in name order)."""
    query = (
        select(col(Conversation.model_a), col(Conversation.model_b)).distinct()
        .join(Turn, col(Turn.conversation_id) == col(Conversation.id)).where(*_needle_turns())
    )
    async with db.reading() as session:
        rows = (await session.exec(query)).all()
    return sorted({(min(a, b), max(a, b)) for a, b in rows})


@dataclass(frozen=True)
class NeedleCell:
    """One model's results at one length and depth, over the repeats."""

    length: int
    depth: int
    hits: int = 0  # answers that contain the code
    n: int = 0  # answers that ended normally (the denominator of the hit rate)
    errors: int = 0  # repeats never answered (every answer an error)
    cut: int = 0  # of the n answers, those whose document was cut to fit the model's window

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def text(self) -> str:
        """For a table: hits/n, with "*" when the document was cut; "-" when nothing was answered."""
        if not self.n:
            return f"- ({self.errors} failed)" if self.errors else "-"
        return f"{self.hits}/{self.n}" + ("*" if self.cut else "")


@dataclass(frozen=True)
class NeedleGrid:
    """Per model, its cells by (length, depth); ``lengths`` and ``depths`` are those stored."""

    models: tuple[str, ...]
    lengths: tuple[int, ...]
    depths: tuple[int, ...]
    cells: dict[str, dict[tuple[int, int], NeedleCell]] = field(default_factory=dict)
    prompt_tokens: dict[str, dict[int, int]] = field(default_factory=dict)  # model -> length -> most prompt tokens

    def cell(self, model: str, length: int, depth: int) -> NeedleCell:
        return self.cells.get(model, {}).get((length, depth), NeedleCell(length, depth))

    @property
    def empty(self) -> bool:
        """Nothing answered at all (no heat map to draw)."""
        return not any(cell.n for by_model in self.cells.values() for cell in by_model.values())

    def restricted(self, lengths: Sequence[int], depths: Sequence[int]) -> NeedleGrid:
        """The same results shown for these lengths and depths only (a command's own grid)."""
        return NeedleGrid(self.models, tuple(lengths), tuple(depths), self.cells, self.prompt_tokens)


@dataclass
class _Tally:
    answered: bool = False
    hit: bool = False
    cut: bool = False


async def needle_grid(db: Database, models: Sequence[str], haystack: str | None = None) -> NeedleGrid:
    """The stored needle results of ``models``: with two models, of the sweeps between these two
    (either on the left); otherwise of every sweep each took part in. ``haystack``: the 8-hex key
    of a user's haystack document (``HaystackSource.key``); None reads the generated haystacks.

    Per model, cell and repeat, the latest answer that ended normally counts (a hit when its
    stored ``reference_match`` is true); a repeat with only errors counts in ``errors``. Models
    without results have no cells; ``NeedleGrid.empty`` says when nothing was answered."""
    query = (
        select(Turn.item_id, Response)
        .join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
        .join(Response, col(Response.turn_id) == col(Turn.id))
        .where(*_needle_turns(), _pair(models), col(Response.model).in_(list(models)))
        .order_by(col(Turn.id))
    )
    async with db.reading() as session:
        rows = (await session.exec(query)).all()
    tallies: dict[str, dict[GridCell, _Tally]] = defaultdict(dict)
    prompt_tokens: dict[str, dict[int, int]] = defaultdict(dict)
    for item_id, response in rows:  # oldest first: a later answer replaces an earlier one
        cell = parse_cell_id(item_id or "")
        if cell is None or cell.haystack != haystack:
            continue
        model, full, sent = response.model, response.prompt_tokens_full, response.prompt_tokens_sent
        tally = tallies[model].setdefault(GridCell(cell.length, cell.depth, cell.repeat), _Tally())
        if response.status != "done":
            continue  # an error does not replace an answer; a repeat with only errors is counted below
        tally.answered, tally.hit = True, bool(response.reference_match)
        tally.cut = full is not None and sent is not None and sent < full
        if full is not None:
            prompt_tokens[model][cell.length] = max(prompt_tokens[model].get(cell.length, 0), full)
    cells: dict[str, dict[tuple[int, int], NeedleCell]] = {}
    for model, by_cell in tallies.items():
        sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for cell, tally in by_cell.items():
            total = sums[(cell.length, cell.depth)]
            total[0] += tally.hit
            total[1] += tally.answered
            total[2] += 0 if tally.answered else 1
            total[3] += tally.cut
        cells[model] = {key: NeedleCell(key[0], key[1], *total) for key, total in sums.items()}
    keys = {key for by_model in cells.values() for key in by_model}
    return NeedleGrid(tuple(models), tuple(sorted({k[0] for k in keys})), tuple(sorted({k[1] for k in keys})),
                      cells, dict(prompt_tokens))
