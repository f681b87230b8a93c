"""``playground needle``: a needle-in-a-haystack sweep of two models over lengths and depths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from playground.cli.support import check_database, err, run_async
from playground.core.config import ConfigError, check_local_paths, load_config

if TYPE_CHECKING:
    from playground.store.needle_queries import NeedleGrid

needle_app = typer.Typer()


@needle_app.command()
def needle(
    models: tuple[str, str] | None = typer.Option(None, "--models", help="two model names (default: the arena's)"),
    lengths: str = typer.Option(..., "--lengths", help="document lengths in tokens, e.g. 4k,16k,64k (k = 1,024)"),
    depths: str = typer.Option("0,25,50,75,100", "--depths", help="needle depths, percent of the document before it"),
    repeats: int = typer.Option(1, "--repeats", min=1, help="times each cell is asked (another code and filler)"),
    haystack: Path = typer.Option(None, "--haystack", help="your own document as the filler (text, Markdown, "
                                                           "HTML, PDF ...), repeated to the length"),
    policy: str = typer.Option(None, "--policy", help="refuse | head | tail | middle for a document longer than a "
                                                      "model's window (default: each model's from the config)"),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="override the models' max_tokens"),
    temperature: float = typer.Option(None, "--temperature", min=0.0, max=2.0, help="override the models' temperature"),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="cells in flight at once"),
    html: Path = typer.Option(None, "--html", help="also write an HTML page with the heat maps"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --html file"),
    config_file: Path = typer.Option(None, "--config", help="default: $PLAYGROUND_CONFIG or playground.yaml"),
) -> None:
    """Ask both models for a code hidden in a document of each length, at each depth, and print
    the hits per model (rows: lengths, columns: depths).

    Each model gets a document of exactly the length in its own tokenizer's tokens. Cells already
    answered by the same two models are skipped, so an interrupted sweep goes on where it stopped;
    a cell that fails is reported and tried again on the next run (exit status 1).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from playground.arena.duel import TurnSettings
    from playground.arena.needle import CellOutcome, NeedleRun, run_needle
    from playground.backends.registry import BackendPool
    from playground.core.vocabulary import TRUNCATION_POLICIES, TruncationPolicy
    from playground.evalsets.documents import DocumentError, extract_document
    from playground.evalsets.needle import HaystackSource, NeedleGridSpec, NeedleSpecError
    from playground.output.needle_plots import CUT_NOTE, needle_page
    from playground.store.database import Database
    from playground.store.needle_queries import needle_grid

    try:
        config = load_config(config_file)
        chosen = (config.arena.model_a, config.arena.model_b) if not models or models[0] is None else models
        for name in chosen:
            config.model(name)
        if chosen[0] == chosen[1]:
            raise NeedleSpecError(f"--models: two different models, not {chosen[0]!r} twice")
        check_local_paths(config, list(chosen))
        grid = NeedleGridSpec.parse(lengths, depths, repeats)
        if policy is not None and policy not in TRUNCATION_POLICIES:
            raise NeedleSpecError(f"--policy: {policy!r} is not one of {', '.join(TRUNCATION_POLICIES)}")
        source = HaystackSource()
        if haystack is not None:
            if not haystack.is_file():
                raise NeedleSpecError(f"--haystack: no file {haystack}")
            document = extract_document(haystack.name, haystack.read_bytes(), config.documents)
            source = HaystackSource(document.name, document.text, document.id)
    except (ConfigError, NeedleSpecError, DocumentError) as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    except KeyError as exc:
        known = ", ".join(config.model_names())
        err.print(f"[red]--models: no model named {escape(str(exc))} in {config.source} (known: {known})[/]")
        raise typer.Exit(2) from None
    if html is not None and html.exists() and not force:
        err.print(f"[red]{html} exists: not overwritten (add --force)[/]")
        raise typer.Exit(2)
    chosen_policy: TruncationPolicy | None = next((p for p in TRUNCATION_POLICIES if p == policy), None)
    settings = TurnSettings(temperature=temperature, max_tokens=max_tokens)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err)
    task = progress.add_task(f"needle: {chosen[0]} vs {chosen[1]}", total=None)

    def started(count: int) -> None:
        progress.update(task, total=count)

    def ended(outcome: CellOutcome) -> None:
        progress.advance(task)
        for problem in outcome.problems:
            progress.console.print(f"[red]cell {outcome.item_id}: {escape(problem)}[/]")

    async def run() -> tuple[NeedleRun, NeedleGrid]:
        db = Database.from_env()
        pool = BackendPool(config)
        try:
            await check_database(db)
            result = await run_needle(db, config, pool, chosen, grid, source=source, policy=chosen_policy,
                                      settings=settings, concurrency=concurrency, on_start=started, on_cell=ended)
            return result, await needle_grid(db, chosen, source.key)
        finally:
            await pool.close()  # the local model's batching thread, worker processes
            await db.dispose()

    try:
        with progress:
            result, stored = run_async(run())
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: finished cells are stored; run the same command again to go on[/]")
        raise typer.Exit(130) from None
    shown = stored.restricted(grid.lengths, grid.depths)
    print_tables(shown, Console())
    if any(shown.cell(m, n, d).cut for m in shown.models for n in shown.lengths for d in shown.depths):
        typer.echo(CUT_NOTE)
    err.print(f"needle: {result.done} done, {len(result.failed)} failed, {result.skipped} skipped (done before) "
              f"of {result.total} cells")
    if html is not None:
        html.write_text(needle_page(shown, f"needle in a haystack: {' vs '.join(chosen)}"), encoding="utf-8")
        err.print(f"heat maps -> {html}")
    if result.failed:
        err.print("failed: " + ", ".join(o.item_id for o in result.failed) + " (run again to retry them)")
        raise typer.Exit(1)


def print_tables(grid: NeedleGrid, console: Console) -> None:
    """A table per model: rows the lengths, columns the depths, cells hits/n."""
    from rich.table import Table

    from playground.output.needle_plots import needle_rows

    for model in grid.models:
        header, rows = needle_rows(grid, model)
        # The title on its own line: a table's title wraps to the table's (narrow) width.
        console.print(f"{escape(model)}: answers with the code / answers (rows: length, columns: depth)",
                      soft_wrap=True)
        table = Table()
        for index, name in enumerate(header):
            table.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
