"""The storage commands, run as a user runs them: `playground db upgrade`, `playground raters
add`, `playground bench store`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from playground.devtools.postgres_server import PostgresServer
from playground.store.migrate import head_revision

from .paths import PROJECT_ROOT


def playground(*args: str, db_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playground.cli", *args], input=stdin, text=True, capture_output=True,
        cwd=PROJECT_ROOT, env=dict(os.environ, PLAYGROUND_DATABASE_URL=db_url), timeout=300,
    )


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
