"""The ``playground`` command."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from playground.config import ConfigError, check_local_paths, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Compare two LLMs side by side.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print JSON figures.")
app.add_typer(bench_app, name="bench")
db_app = typer.Typer(no_args_is_help=True, help="The database (PLAYGROUND_DATABASE_URL, default SQLite).")
app.add_typer(db_app, name="db")
raters_app = typer.Typer(no_args_is_help=True, help="Rater accounts (they log in to the app).")
app.add_typer(raters_app, name="raters")
DEMO_RATER = ("demo", "demo")
err = Console(stderr=True, soft_wrap=True)  # an error line stays one line, whatever the terminal width


@app.command("demo-models")
def demo_models(
    out_dir: Path = typer.Argument(..., help="folder to build the checkpoints in"),
    force: bool = typer.Option(False, help="rebuild checkpoints that already exist"),
) -> None:
    """Build the two tiny demo checkpoints (transformers and vLLM-CPU load both)."""
    from playground.demo_models import build_demo_models

    for path in build_demo_models(out_dir, force=force):
        typer.echo(path)


@app.command("check-config")
def check_config(path: Path = typer.Argument(None, help="default: $PLAYGROUND_CONFIG or playground.yaml")) -> None:
    """Validate a config file; errors name the file and the field."""
    try:
        config = load_config(path)
        check_local_paths(config, [config.arena.model_a, config.arena.model_b])
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    typer.echo(f"{config.source}: ok ({len(config.models)} models)")


@app.command()
def up(
    demo: bool = typer.Option(False, help="serve the demo checkpoints (no GPU, no download)"),
    port: int = typer.Option(8080, help="port of the Chainlit app"),
    host: str = typer.Option("127.0.0.1"),
    headless: bool = typer.Option(False, help="do not open a browser"),
) -> None:
    """Start the playground (with --demo: build and serve the demo models first)."""
    from playground.vllm_server import PROJECT_ROOT

    command = [sys.executable, "-m", "chainlit", "run", str(PROJECT_ROOT / "chainlit_app.py"),
               "--host", host, "--port", str(port)]
    if headless:
        command.append("--headless")
    env = dict(os.environ)
    asyncio.run(_prepare_database(demo_rater=demo))
    # Chainlit signs its login tokens with this; a new one per start means logging in again.
    env.setdefault("CHAINLIT_AUTH_SECRET", secrets.token_urlsafe(48))
    if not demo:
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False)
        return
    from playground.demo_stack import DEMO_CONFIG, demo_backends

    env["PLAYGROUND_CONFIG"] = str(DEMO_CONFIG)
    # SIGTERM (a service manager, `timeout`) must also stop the vLLM server this command started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with demo_backends(err):
        err.print(f"[bold green]Playground on http://{host}:{port}[/] (Ctrl-C stops it)")
        try:
            subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False)
        except KeyboardInterrupt:
            pass


async def _prepare_database(demo_rater: bool) -> None:
    from sqlmodel import func, select

    from playground.store.database import Database
    from playground.store.migrate import upgrade
    from playground.store.raters import add_rater, get_rater
    from playground.store.tables import Rater

    db = Database.from_env()
    try:
        await upgrade(db)
        if demo_rater and await get_rater(db, DEMO_RATER[0]) is None:
            await add_rater(db, *DEMO_RATER)
        async with db.sessions() as session:
            raters = (await session.exec(select(func.count()).select_from(Rater))).one()
    finally:
        await db.dispose()
    if demo_rater:
        err.print(f"Log in as [bold]{DEMO_RATER[0]}[/], password [bold]{DEMO_RATER[1]}[/]")
    elif raters == 0:
        err.print("[yellow]No rater accounts yet:[/] add one with `playground raters add NAME`")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the database's tables to this version of the playground."""
    from playground.store.database import Database, DatabaseError
    from playground.store.migrate import current_revision, upgrade

    async def run() -> str | None:
        db = Database.from_env()
        try:
            await upgrade(db, revision)
            return await current_revision(db)
        finally:
            await db.dispose()

    try:
        now = asyncio.run(run())
    except DatabaseError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    err.print(f"database at revision {now}")


@raters_app.command("add")
def raters_add(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="may see every rater's data"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
) -> None:
    """Add a rater account (the password is asked for, or read from stdin)."""
    from playground.store.database import Database
    from playground.store.migrate import upgrade
    from playground.store.raters import RaterError, add_rater

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        db = Database.from_env()
        try:
            await upgrade(db)  # a first rater on a new database: create the tables too
            await add_rater(db, name, password, admin=admin)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except RaterError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    err.print(f"rater {name!r} added{' (admin)' if admin else ''}")


async def check_database(db) -> None:  # type: ignore[no-untyped-def]
    """A blank database gets the tables (then it is simply empty); one at another revision is
    refused with what to do, rather than read with the wrong schema."""
    from playground.store.migrate import check_at_head, current_revision, upgrade

    if await current_revision(db) is None:
        await upgrade(db)
    await check_at_head(db)


def run_async(work):  # type: ignore[no-untyped-def]
    """Run a command's database work; its errors become one red line and exit status 2."""
    from playground.store.database import DatabaseError

    try:
        return asyncio.run(work)
    except (DatabaseError, RuntimeError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _filters(models: str | None, raters: str | None, categories: str | None, since: str | None,
             until: str | None, all_votes: bool):
    from datetime import datetime, timezone

    from playground.stats.data import Filters

    def when(text: str | None, option: str) -> datetime | None:
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            err.print(f"[red]{option}: not a date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T12:00)[/]")
            raise typer.Exit(2)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    split = lambda text: tuple(x.strip() for x in text.split(",") if x.strip()) if text else ()  # noqa: E731
    return Filters(models=split(models), raters=split(raters), categories=split(categories), since=when(since, "--since"),
                   until=when(until, "--until"), blind_only=not all_votes)


MODELS_OPT = typer.Option(None, "--models", help="comma-separated: only battles between these")
RATERS_OPT = typer.Option(None, "--raters", help="comma-separated rater names")
CATEGORIES_OPT = typer.Option(None, "--categories", help="comma-separated prompt-set categories")
SINCE_OPT = typer.Option(None, "--since", help="ISO date or time (UTC unless given)")
UNTIL_OPT = typer.Option(None, "--until", help="ISO date or time (UTC unless given)")
ALL_VOTES_OPT = typer.Option(False, "--all-votes", help="include votes cast after the names were shown")


@app.command()
def report(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    html: Path = typer.Option(None, "--html", help="also write a self-contained HTML page with the plots"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --html file"),
    rounds: int = typer.Option(100, "--bootstrap-rounds", min=100, help="bootstrap rounds of the intervals"),
    models: str = MODELS_OPT, raters: str = RATERS_OPT, categories: str = CATEGORIES_OPT,
    since: str = SINCE_OPT, until: str = UNTIL_OPT, all_votes: bool = ALL_VOTES_OPT,
) -> None:
    """The leaderboard: Bradley-Terry ratings, win rates, scores, position bias, agreement, latency."""
    from playground.stats.report import collect, print_report, summarize
    from playground.store.database import Database

    if html is not None and html.exists() and not force:
        err.print(f"[red]{html} exists: not overwritten (add --force)[/]")
        raise typer.Exit(2)
    filters = _filters(models, raters, categories, since, until, all_votes)

    async def run():  # type: ignore[no-untyped-def]
        db = Database.from_env()
        try:
            await check_database(db)
            return await collect(db, filters)
        finally:
            await db.dispose()

    data = run_async(run())
    result = summarize(data, bootstrap_rounds=rounds, per_rater=True)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        print_report(result, Console())
    if html is not None:
        from playground.stats.html_page import render_html
        from playground.stats.plots import all_plots

        plots = all_plots(data, result)
        html.write_text(render_html(result, plots), encoding="utf-8")
        err.print(f"report with {len(plots)} plots -> {html}")


@app.command("export")
def export_command(
    fmt: str = typer.Option(..., "--format", help="jsonl | csv | dpo | fastchat"),
    out: Path = typer.Option(None, "--out", help="file to write (default: standard output)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing --out file"),
    models: str = MODELS_OPT, raters: str = RATERS_OPT, categories: str = CATEGORIES_OPT,
    since: str = SINCE_OPT, until: str = UNTIL_OPT, all_votes: bool = ALL_VOTES_OPT,
) -> None:
    """Rated transcripts (jsonl), rated responses (csv), preference pairs (dpo), battles (fastchat)."""
    from playground.export import FORMATS, export
    from playground.store.database import Database

    if fmt not in FORMATS:
        err.print(f"[red]--format: {fmt!r} is not one of {', '.join(FORMATS)}[/]")
        raise typer.Exit(2)
    if out is not None and out.exists() and not force:
        err.print(f"[red]{out} exists: not overwritten (add --force)[/]")
        raise typer.Exit(2)
    filters = _filters(models, raters, categories, since, until, all_votes)

    async def run(stream):  # type: ignore[no-untyped-def]
        db = Database.from_env()
        try:
            await check_database(db)
            return await export(db, fmt, stream, filters)
        finally:
            await db.dispose()

    if out is None:
        counts = run_async(run(sys.stdout))
    else:
        with out.open("w", encoding="utf-8", newline="") as stream:
            counts = run_async(run(stream))
    err.print(f"{fmt}: wrote {counts.written}, skipped {counts.skipped}" + (f" -> {out}" if out else ""))


@app.command()
def batch(
    prompt_set: str = typer.Argument(..., help="a set in prompts/ (e.g. quick-20) or a YAML file"),
    models: tuple[str, str] | None = typer.Option(None, "--models", help="two model names (default: the arena's)"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="items in flight at once"),
    limit: int = typer.Option(None, "--limit", min=1, help="run at most this many of the items not done yet"),
    max_tokens: int = typer.Option(None, "--max-tokens", min=1, help="override the models' max_tokens"),
    temperature: float = typer.Option(None, "--temperature", min=0.0, max=2.0, help="override the models' temperature"),
    config_file: Path = typer.Option(None, "--config", help="default: $PLAYGROUND_CONFIG or playground.yaml"),
) -> None:
    """Run a prompt set through two models and store the answers for the rating queue.

    Items already answered by the same two models are skipped, so an interrupted run goes on
    where it stopped; an item that fails is reported and the run goes on.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from playground.arena import TurnSettings
    from playground.backends.registry import BackendPool
    from playground.batch import run_batch
    from playground.prompts import PromptSetError, load_prompt_set
    from playground.store.database import Database

    try:
        config = load_config(config_file)
        chosen = (config.arena.model_a, config.arena.model_b) if not models or models[0] is None else models
        for name in chosen:
            config.model(name)
        check_local_paths(config, list(chosen))
        items = load_prompt_set(prompt_set)
    except (ConfigError, PromptSetError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    except KeyError as exc:
        err.print(f"[red]--models: no model named {exc} in {config.source} (known: {', '.join(config.model_names())})[/]")
        raise typer.Exit(2) from None
    settings = TurnSettings(temperature=temperature, max_tokens=max_tokens)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err)
    task = progress.add_task(f"{items.name}: {chosen[0]} vs {chosen[1]}", total=None)

    def started(count: int) -> None:
        progress.update(task, total=count)

    def ended(outcome) -> None:  # type: ignore[no-untyped-def]
        progress.advance(task)
        for problem in outcome.problems:
            progress.console.print(f"[red]item {outcome.item_id}: {problem}[/]")

    async def run():  # type: ignore[no-untyped-def]
        db = Database.from_env()
        pool = BackendPool(config)
        try:
            await check_database(db)
            return await run_batch(db, config, pool, items, chosen, concurrency=concurrency, settings=settings,
                                   limit=limit, on_start=started, on_item=ended)
        finally:
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


@app.command()
def judge(
    prompt_set: str = typer.Option(None, "--set", help="only turns from this prompt set"),
    limit: int = typer.Option(None, "--limit", min=1, help="judge at most this many turns"),
    concurrency: int = typer.Option(4, "--concurrency", min=1),
    config_file: Path = typer.Option(None, "--config", help="default: $PLAYGROUND_CONFIG or playground.yaml"),
) -> None:
    """The configured LLM judge compares the two answers of every stored turn it has not judged,
    twice (sides swapped); `playground report` then shows how often it agrees with the raters."""
    from playground.backends.registry import BackendPool
    from playground.judge import JudgeError, judge_turns
    from playground.store.database import Database

    try:
        config = load_config(config_file)
        if config.judge is not None:
            check_local_paths(config, [config.judge.model])
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None

    async def run():  # type: ignore[no-untyped-def]
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


@app.command()
def check(
    answer: str = typer.Argument(..., help="the answer to check (<think> blocks are ignored)"),
    reference: list[str] = typer.Option(..., "--reference", help="a reference answer (repeat for several)"),
) -> None:
    """Does ANSWER contain the reference answer? Prints `match` (exit 0) or `no match` (exit 1)."""
    from playground.checks import matches_any

    found = matches_any(answer, reference)
    typer.echo("match" if found else "no match")
    raise typer.Exit(0 if found else 1)


@app.command("prompt-sets")
def prompt_sets() -> None:
    """List the prompt sets in prompts/ (PLAYGROUND_PROMPTS for another folder), checking each."""
    from playground.prompts import PromptSetError, available_sets

    try:
        sets = available_sets()
    except PromptSetError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    for prompt_set in sets:
        categories = sorted({item.category for item in prompt_set.items})
        typer.echo(f"{prompt_set.name}: {len(prompt_set.items)} items ({', '.join(categories)})")


def print_figures(result: dict, as_json: bool) -> None:
    """A benchmark's figures: one JSON object, or one line per key for a person."""
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>22}: {value}")


@bench_app.command("duel")
def bench_duel(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    max_tokens: int = typer.Option(128, help="tokens per answer"),
) -> None:
    """Paired turns against the demo backends: fan-out ratio, event-loop lag, UI redraw rate."""
    from playground.bench.duel import bench_duel as run
    from playground.demo_stack import demo_backends

    with demo_backends(err) as config:
        result = asyncio.run(run(config, max_tokens=max_tokens))
    print_figures(result, as_json)


@bench_app.command("batch")
def bench_batch(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    items: int = typer.Option(32, help="items per concurrency level"),
    max_tokens: int = typer.Option(64, help="tokens per answer"),
) -> None:
    """Items per second at concurrency 1, 4 and 16 against the demo vLLM server (started if none runs)."""
    from playground.bench.batch import bench_batch as run
    from playground.demo_stack import demo_backends

    with demo_backends(err) as config:
        result = asyncio.run(run(config, items=items, max_tokens=max_tokens))
    print_figures(result, as_json)


@bench_app.command("store")
def bench_store(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    postgres_url: str = typer.Option(
        None, help="an EMPTY scratch PostgreSQL database to use (default: start a server on loopback)"
    ),
    writers: int = typer.Option(50, help="raters submitting at once"),
    per_writer: int = typer.Option(20, help="ratings each"),
) -> None:
    """Concurrent rating writes on SQLite and PostgreSQL: ratings/s and ratings lost (must be 0)."""
    from playground.bench.store import bench_store as run

    result = asyncio.run(run(postgres_url, writers=writers, per_writer=per_writer))
    print_figures(result, as_json)


@bench_app.command("stats")
def bench_stats(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    votes: int = typer.Option(1_000_000, help="synthetic votes for the Bradley-Terry fit"),
    models: int = typer.Option(20, help="models they are spread over"),
    export_votes: int = typer.Option(1_000_000, help="of those, how many are stored and exported"),
) -> None:
    """Bradley-Terry with 100 bootstrap rounds on 1M votes, export speed, peak memory."""
    from playground.bench.stats import run_stats_bench

    result = asyncio.run(run_stats_bench(votes=votes, models=models, export_votes=min(export_votes, votes)))
    print_figures(result, as_json)


if __name__ == "__main__":
    app()
