"""``playground gold SET``: store a prompt set's gold items for the rating queue."""

from __future__ import annotations

import random

import typer

from playground.cli.support import check_database, err, run_async

gold_app = typer.Typer()


@gold_app.command()
def gold(
    prompt_set: str = typer.Argument(..., help="a set in prompts/ (e.g. quick-20) or a YAML file"),
    seed: int = typer.Option(None, "--seed", help="seed of the left/right draw (default: random)"),
) -> None:
    """Store the set's gold items (items with `gold: {answer_a, answer_b, verdict}`) as rating-queue
    items with a known verdict. The queue mixes them in at arena.gold_rate, unmarked, to score the
    raters; they never count as battles. Each pair goes left/right at random (the verdict follows).
    Items already stored with the same answers and verdict are skipped."""
    from playground.evalsets.prompt_sets import PromptSetError, load_prompt_set
    from playground.store.database import Database
    from playground.store.queue import batch_rater_id, store_gold_turn

    try:
        items = load_prompt_set(prompt_set)
    except PromptSetError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    golds = [item for item in items.items if item.gold is not None]
    if not golds:
        err.print(f"{items.name}: no item has a gold pair (gold: {{answer_a, answer_b, verdict}})", markup=False)
        raise typer.Exit(2)
    rng = random.Random(seed)

    async def run() -> tuple[int, int]:
        db = Database.from_env()
        try:
            await check_database(db)
            owner = await batch_rater_id(db)
            stored = 0
            for item in golds:
                assert item.gold is not None
                turn = await store_gold_turn(
                    db, owner, prompt_set=items.name, item_id=item.id, category=item.category, prompt=item.question,
                    system_prompt=item.system_prompt, answers={"a": item.gold.answer_a, "b": item.gold.answer_b},
                    winner=item.gold.winner, swap=rng.random() < 0.5,
                )
                stored += turn is not None
            return stored, len(golds) - stored
        finally:
            await db.dispose()

    stored, skipped = run_async(run())
    err.print(f"{items.name}: stored {stored} gold items, {skipped} already stored", markup=False)
