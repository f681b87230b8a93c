"""Commands that evaluate: prompt sets, batch runs, the judge, the automatic check, the report
and the exports (added to the top level of ``playground``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer
from rich.console import Console

from playground.cli.support import check_database, err, run_async
from playground.core.config import ConfigError, check_local_paths, load_config

if TYPE_CHECKING:
    from playground.store.report_filters import Filters

evaluation = typer.Typer()


def _filters(models: str | None, raters: str | None, categories: str | None, since: str | None,
             until: str | None, all_votes: bool, length_buckets: str | None = None) -> Filters:
    """The filter options as Filters; a date or a length bucket that cannot be read exits with
    status 2."""
    from datetime import UTC, datetime

    from rich.markup import escape

    from playground.store.report_filters import LENGTH_BUCKET_NAMES, Filters

    def when(text: str | None, option: str) -> datetime | None:
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            err.print(f"[red]{option}: not a date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T12:00)[/]")
            raise typer.Exit(2) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def split(text: str | None) -> tuple[str, ...]:
        return tuple(x.strip() for x in text.split(",") if x.strip()) if text else ()

    def buckets(text: str | None) -> tuple[str, ...]:
        # Any case, and words for "<" and ">", which a shell reads as redirections unless quoted.
        known = {name.lower(): name for name in LENGTH_BUCKET_NAMES}
        known |= {"under-8k": "<8K", "over-128k": ">128K"}
        chosen = []
        for name in split(text):
            if name.lower() not in known:
                err.print(f"[red]--length-bucket: not a length bucket: {escape(repr(name))} "
                          f"(use {escape(', '.join(LENGTH_BUCKET_NAMES))}; under-8K and over-128K also work)[/]")
                raise typer.Exit(2)
            chosen.append(known[name.lower()])
        return tuple(chosen)

    return Filters(models=split(models), raters=split(raters), categories=split(categories),
                   since=when(since, "--since"), until=when(until, "--until"), blind_only=not all_votes,
                   length_buckets=buckets(length_buckets))


MODELS_OPT = typer.Option(None, "--models", help="comma-separated: only battles between these")
RATERS_OPT = typer.Option(None, "--raters", help="comma-separated rater names")
CATEGORIES_OPT = typer.Option(None, "--categories", help="comma-separated prompt-set categories")
SINCE_OPT = typer.Option(None, "--since", help="ISO date or time (UTC unless given)")
UNTIL_OPT = typer.Option(None, "--until", help="ISO date or time (UTC unless given)")
ALL_VOTES_OPT = typer.Option(False, "--all-votes", help="include votes cast after the names were shown")
LENGTH_OPT = typer.Option(None, "--length-bucket",
                          help="comma-separated prompt lengths of the turn: '<8K', 8-32K, 32-128K, '>128K', unknown")


@evaluation.command()
def report(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    html: Path = typer.Option(None, "--html", help="also write a self-contained HTML page with the plots"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --html file"),
    rounds: int = typer.Option(100, "--bootstrap-rounds", min=100, help="bootstrap rounds of the intervals"),
    models: str = MODELS_OPT, raters: str = RATERS_OPT, categories: str = CATEGORIES_OPT,
    since: str = SINCE_OPT, until: str = UNTIL_OPT, all_votes: bool = ALL_VOTES_OPT, length: str = LENGTH_OPT,
    min_quality: float = typer.Option(None, "--min-rater-quality", min=0.0, max=1.0,
                                      help="raters with a quality score under this are excluded or down-weighted"),
    weighting: str = typer.Option("exclude", "--rater-weighting",
                                  help="exclude | downweight (with --min-rater-quality)"),
    weight_by_sampling: bool = typer.Option(
        False, "--weight-by-sampling",
        help="weight each vote in the Bradley-Terry fit by 1 / the probability its pair was drawn (said in the notes)"),
) -> None:
    """The leaderboard: Bradley-Terry ratings, win rates, scores, position bias, agreement, latency,
    the votes and latency by prompt length, and the raters' quality."""
    from playground.output.tables import print_report
    from playground.stats.rater_quality import RATER_WEIGHTINGS
    from playground.stats.report import RaterPolicy, collect_with_policy, summarize
    from playground.store.database import Database
    from playground.store.needle_queries import NeedleGrid, needle_grid, needle_pairs
    from playground.store.report_queries import ReportData

    if html is not None and html.exists() and not force:
        err.print(f"[red]{html} exists: not overwritten (add --force)[/]")
        raise typer.Exit(2)
    filters = _filters(models, raters, categories, since, until, all_votes, length)
    if weighting not in RATER_WEIGHTINGS:
        err.print(f"[red]--rater-weighting: {weighting!r} is not one of {', '.join(RATER_WEIGHTINGS)}[/]")
        raise typer.Exit(2)
    policy = None if min_quality is None else RaterPolicy(min_quality=min_quality, weighting=weighting)

    async def run() -> tuple[ReportData, list[NeedleGrid], list[float] | None]:
        from playground.stats.pair_sampling import inverse_probability_weights
        from playground.store.pair_queries import load_pair_probabilities

        db = Database.from_env()
        try:
            await check_database(db)
            grids = [await needle_grid(db, pair) for pair in await needle_pairs(db)] if html is not None else []
            data = await collect_with_policy(db, filters, policy)
            weights = (inverse_probability_weights(await load_pair_probabilities(db, data.filters))
                       if weight_by_sampling else None)
            return data, grids, weights
        finally:
            await db.dispose()

    data, needle_grids, sampling_weights = run_async(run())
    result = summarize(data, bootstrap_rounds=rounds, per_rater=True, rater_policy=policy,
                       sampling_weights=sampling_weights)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        print_report(result, Console())
    if html is not None:
        from playground.output.html_page import render_html
        from playground.output.needle_plots import needle_heat_maps
        from playground.output.plots import all_plots

        plots = all_plots(data, result)
        for grid in needle_grids:  # the needle sweeps' heat maps, one picture per pair of models
            heat_maps = needle_heat_maps(grid)
            if heat_maps is not None:
                plots[f"Needle in a haystack: {' vs '.join(grid.models)}"] = heat_maps
        html.write_text(render_html(result, plots), encoding="utf-8")
        err.print(f"report with {len(plots)} plots -> {html}")


@evaluation.command("export")
def export_command(
    fmt: str = typer.Option(..., "--format", help="jsonl | csv | dpo | fastchat"),
    out: Path = typer.Option(None, "--out", help="file to write (default: standard output)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --out file"),
    models: str = MODELS_OPT, raters: str = RATERS_OPT, categories: str = CATEGORIES_OPT,
    since: str = SINCE_OPT, until: str = UNTIL_OPT, all_votes: bool = ALL_VOTES_OPT, length: str = LENGTH_OPT,
    documents: str = typer.Option(
        "reference", "--documents",
        help="reference: documents listed by id and name beside the question; embed: their text before the "
             "question, as the models received it (jsonl, dpo, fastchat)"),
) -> None:
    """Rated transcripts (jsonl), rated responses (csv), preference pairs (dpo), battles (fastchat)."""
    from playground.output.export import DOCUMENT_MODES, EMBED, FORMATS, ExportCounts, export
    from playground.store.database import Database

    if fmt not in FORMATS:
        err.print(f"[red]--format: {fmt!r} is not one of {', '.join(FORMATS)}[/]")
        raise typer.Exit(2)
    if documents not in DOCUMENT_MODES:
        err.print(f"[red]--documents: {documents!r} is not one of {', '.join(DOCUMENT_MODES)}[/]")
        raise typer.Exit(2)
    if fmt == "csv" and documents == EMBED:
        err.print("[red]--documents embed: csv names the documents only (ids and names); embed with jsonl, dpo "
                  "or fastchat[/]")
        raise typer.Exit(2)
    if out is not None and out.exists() and not force:
        err.print(f"[red]{out} exists: not overwritten (add --force)[/]")
        raise typer.Exit(2)
    filters = _filters(models, raters, categories, since, until, all_votes, length)

    async def run(stream: IO[str]) -> ExportCounts:
        db = Database.from_env()
        try:
            await check_database(db)
            return await export(db, fmt, stream, filters, documents=documents)
        finally:
            await db.dispose()

    if out is None:
        counts = run_async(run(sys.stdout))
    else:
        with out.open("w", encoding="utf-8", newline="") as stream:
            counts = run_async(run(stream))
    err.print(f"{fmt}: wrote {counts.written}, skipped {counts.skipped}" + (f" -> {out}" if out else ""))


# `--models A B C`: click options take a fixed number of values, so the names after the first
# arrive as extra arguments (batch has no other positional argument after the set).
@evaluation.command(context_settings={"allow_extra_args": True})
def batch(
    ctx: typer.Context,
    prompt_set: str = typer.Argument(..., help="a set in prompts/ (e.g. quick-20) or a YAML file"),
    models: str = typer.Option(None, "--models",
                               help="two or more model names, space- or comma-separated (default: the arena's)"),
    pairs: str = typer.Option(None, "--pairs", help="over 3+ models: uniform | adaptive (default: the arena's "
                                                    "arena.pairs, else adaptive)"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="items in flight at once"),
    limit: int = typer.Option(None, "--limit", min=1, help="run at most this many of the items not done yet"),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="override the models' max_tokens"),
    temperature: float = typer.Option(None, "--temperature", min=0.0, max=2.0, help="override the models' temperature"),
    config_file: Path = typer.Option(None, "--config", help="default: $PLAYGROUND_CONFIG or playground.yaml"),
) -> None:
    """Run a prompt set through two models (or a pair drawn per item from three or more) and store
    the answers for the rating queue.

    Items already answered by a pair of the same models are skipped, so an interrupted run goes on
    where it stopped; an item that fails is reported and the run goes on.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from playground.arena.batch import BatchResult, run_batch
    from playground.arena.duel import TurnSettings
    from playground.arena.runs import ItemOutcome
    from playground.backends.registry import BackendPool
    from playground.evalsets.prompt_sets import PromptSetError, load_prompt_set
    from playground.store.database import Database

    if models is None and ctx.args:
        err.print(f"[red]unexpected arguments: {' '.join(ctx.args)}[/]")
        raise typer.Exit(2)
    named = [n.strip() for text in ([models, *ctx.args] if models else []) for n in text.split(",") if n.strip()]
    if pairs is not None and pairs not in ("uniform", "adaptive"):
        err.print(f"[red]--pairs: {pairs!r} is not one of uniform, adaptive[/]")
        raise typer.Exit(2)
    try:
        config = load_config(config_file)
        chosen = tuple(dict.fromkeys(named)) if named else tuple(config.arena.model_names())
        if len(chosen) < 2:
            err.print("[red]--models: give two or more different model names[/]")
            raise typer.Exit(2)
        for name in chosen:
            config.model(name)
        check_local_paths(config, list(chosen))
        items = load_prompt_set(prompt_set)
    except (ConfigError, PromptSetError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    except KeyError as exc:
        known = ", ".join(config.model_names())
        err.print(f"[red]--models: no model named {exc} in {config.source} (known: {known})[/]")
        raise typer.Exit(2) from None
    settings = TurnSettings(temperature=temperature, max_tokens=max_tokens)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err)
    task = progress.add_task(f"{items.name}: {' vs '.join(chosen)}", total=None)

    def started(count: int) -> None:
        progress.update(task, total=count)

    def ended(outcome: ItemOutcome) -> None:
        progress.advance(task)
        for problem in outcome.problems:
            progress.console.print(f"[red]item {outcome.item_id}: {problem}[/]")

    async def run() -> BatchResult:
        db = Database.from_env()
        pool = BackendPool(config)
        try:
            await check_database(db)
            distribution = None
            if len(chosen) > 2:
                from playground.stats.pair_sampling import batch_pair_distribution

                default = config.arena.pairs if set(chosen) == set(config.arena.model_names()) else None
                distribution = await batch_pair_distribution(db, chosen, pairs or default or "adaptive")
            return await run_batch(db, config, pool, items, chosen, concurrency=concurrency, settings=settings,
                                   limit=limit, on_start=started, on_item=ended, pairs=distribution)
        finally:
            await pool.close()  # the local model's batching thread, worker processes
            await db.dispose()

    try:
        with progress:
            result = run_async(run())
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: finished items are stored; run the same command again to go on[/]")
        raise typer.Exit(130) from None
    err.print(f"{result.prompt_set}: {result.done} done, {len(result.failed)} failed, "
              f"{result.skipped} skipped (done before) of {result.total} items")
    if result.failed:
        err.print("failed: " + ", ".join(o.item_id for o in result.failed) + " (run again to retry them)")
        raise typer.Exit(1)


@evaluation.command()
def judge(
    prompt_set: str = typer.Option(None, "--set", help="only turns from this prompt set"),
    limit: int = typer.Option(None, "--limit", min=1, help="judge at most this many turns"),
    concurrency: int = typer.Option(4, "--concurrency", min=1),
    config_file: Path = typer.Option(None, "--config", help="default: $PLAYGROUND_CONFIG or playground.yaml"),
) -> None:
    """The configured LLM judge compares the two answers of every stored turn it has not judged,
    twice (sides swapped); `playground report` then shows how often it agrees with the raters."""
    from playground.arena.judge import JudgeError, JudgeRun, judge_turns
    from playground.backends.registry import BackendPool
    from playground.store.database import Database

    try:
        config = load_config(config_file)
        if config.judge is not None:
            check_local_paths(config, [config.judge.model])
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None

    async def run() -> JudgeRun:
        db = Database.from_env()
        try:
            await check_database(db)
            return await judge_turns(db, config, BackendPool(config), prompt_set=prompt_set, limit=limit,
                                     concurrency=concurrency)
        finally:
            await db.dispose()

    try:
        result = run_async(run())
    except JudgeError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    for problem in result.errors:
        err.print(f"[red]{problem}[/]")
    err.print(f"judged {result.judged} turns ({result.unreadable} with replies that name no verdict), "
              f"{len(result.errors)} failed")
    if result.errors:
        raise typer.Exit(1)


@evaluation.command()
def check(
    answer: str = typer.Argument(..., help="the answer to check (<think> blocks are ignored)"),
    reference: list[str] = typer.Option(..., "--reference", help="a reference answer (repeat for several)"),
) -> None:
    """Does ANSWER contain the reference answer? Prints `match` (exit 0) or `no match` (exit 1)."""
    from playground.evalsets.checks import matches_any

    found = matches_any(answer, reference)
    typer.echo("match" if found else "no match")
    raise typer.Exit(0 if found else 1)


@evaluation.command("prompt-sets")
def prompt_sets() -> None:
    """List the prompt sets in prompts/ (PLAYGROUND_PROMPTS for another folder), checking each."""
    from playground.evalsets.prompt_sets import PromptSetError, available_sets

    try:
        sets = available_sets()
    except PromptSetError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    for prompt_set in sets:
        categories = sorted({item.category for item in prompt_set.items})
        typer.echo(f"{prompt_set.name}: {len(prompt_set.items)} items ({', '.join(categories)})")
