"""The storage commands, run as a user runs them: `playground db upgrade`, `playground raters
add`, `playground bench store`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from playground.cli import app
from playground.devtools.postgres_server import PostgresServer
from playground.store.migrate import head_revision

from .paths import PROJECT_ROOT


def playground(*args: str, db_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``playground ARGS`` on the database ``db_url``: the command's own code, its exit status,
    standard output and error, run in this process by Typer's runner. A new interpreter per
    command cost each a second or two of imports; ``test_install`` runs the installed script
    itself, in a new interpreter."""

    def invoke() -> Result:
        with contextlib.chdir(PROJECT_ROOT):
            return CliRunner().invoke(app, list(args), input=stdin, env={"PLAYGROUND_DATABASE_URL": db_url})

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = invoke()
    else:  # from an async test: the command's own asyncio.run needs a thread without a loop
        with ThreadPoolExecutor(1) as thread:
            result = thread.submit(invoke).result()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the interpreter would have printed before exiting with status 1.
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["playground", *args], result.exit_code, result.stdout, stderr)


def test_db_upgrade_then_raters_add(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = playground("db", "upgrade", db_url=url)
    assert done.returncode == 0 and f"database at revision {head_revision()}" in done.stderr
    short = playground("raters", "add", "ana", "--admin", "--password-stdin", db_url=url, stdin="s3cret!\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    added = playground("raters", "add", "ana", "--admin", "--password-stdin", db_url=url, stdin="s3cret!-pw\n")
    assert added.returncode == 0 and "rater 'ana' added (admin)" in added.stderr
    again = playground("raters", "add", "ana", "--password-stdin", db_url=url, stdin="other-password\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = playground("db", "upgrade", db_url="mysql://x@localhost/db")
    assert bad.returncode == 2 and "PLAYGROUND_DATABASE_URL" in bad.stderr


def test_bench_store_prints_rates_and_nothing_lost(postgres: PostgresServer) -> None:
    scratch = postgres.create_database("bench_scratch")
    done = playground(
        "bench", "store", "--json", "--writers", "5", "--per-writer", "4", "--postgres-url", scratch,
        db_url="sqlite:///unused.db",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for database in ("sqlite", "postgresql"):
        assert figures[database]["lost"] == 0 and figures[database]["errors"] == 0
        assert figures[database]["submitted"] == 20 and figures[database]["ratings_per_s"] > 0
