"""`playground report` and `playground export`, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from playground.devtools.synthetic_store import store_battles
from playground.stats.synthetic import simulate_battles, true_ratings
from playground.store.database import Database
from playground.store.migrate import upgrade

from .paths import PROJECT_ROOT
from .test_cli_store import playground

BLIND_ONLY = "blind votes only · models: all · raters: all · categories: all · since: - · until: -"


def synthetic_database(path: Path, votes: int = 300) -> str:
    url = f"sqlite:///{path}"

    async def fill() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            battles = simulate_battles(true_ratings(3, 120), votes, np.random.default_rng(0), tie_rate=0.1)
            await store_battles(db, battles)
        finally:
            await db.dispose()

    asyncio.run(fill())
    return url


def test_report_json_terminal_and_html(tmp_path: Path) -> None:
    url = synthetic_database(tmp_path / "r.db")
    done = playground("report", "--json", db_url=url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["votes"] == 300
    assert [r["model"] for r in report["bradley_terry"]] == ["model-00", "model-01", "model-02"]
    assert [p["items"] for p in report["agreement_by_rater_pair"]] == []  # one rater per synthetic item
    assert report["filters"]["blind_only"] is True and report["filters_text"] == BLIND_ONLY

    table = playground("report", db_url=url)
    assert table.returncode == 0 and "Leaderboard" in table.stdout and "model-00" in table.stdout
    assert "Position bias" in table.stdout
    assert f"filters: {BLIND_ONLY}" in table.stdout.replace("\n", " ")

    page = tmp_path / "report.html"
    html = playground("report", "--html", str(page), db_url=url)
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    # Self-contained: every plot embedded, nothing fetched.
    assert text.count('src="data:image/png;base64,') == 5  # no categories here: no per-category plot
    assert "http://" not in text and "https://" not in text
    assert f"filters: {BLIND_ONLY}" in text and "{&#x27;models" not in text  # not a Python dict
    for title in ("Ratings", "Win-rate matrix", "Battle counts", "Scores by model", "Latency"):
        assert f"<h2>{title}</h2>" in text
    again = playground("report", "--html", str(page), db_url=url)
    assert again.returncode == 2 and "not overwritten" in again.stderr
    assert playground("report", "--html", str(page), "--force", db_url=url).returncode == 0

    filtered = json.loads(playground("report", "--json", "--models", "model-00,model-01", "--since", "2020-01-02",
                                     db_url=url).stdout)
    assert 0 < filtered["votes"] < 300 and {r["model"] for r in filtered["bradley_terry"]} == {"model-00", "model-01"}
    assert filtered["filters"]["models"] == ["model-00", "model-01"]
    assert "models: model-00, model-01 · raters: all · categories: all · since: 2020-01-02T00:00:00+00:00 · until: -" \
        in filtered["filters_text"]
    bad = playground("report", "--since", "last tuesday", db_url=url)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_export_writes_counts_and_refuses_to_overwrite(tmp_path: Path) -> None:
    url = synthetic_database(tmp_path / "e.db", votes=50)
    out = tmp_path / "pairs.jsonl"
    done = playground("export", "--format", "dpo", "--out", str(out), db_url=url)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    ties = sum(1 for line in playground("export", "--format", "fastchat", db_url=url).stdout.splitlines()
               if json.loads(line)["winner"].startswith("tie"))
    assert f"dpo: wrote {len(lines)}, skipped {ties}" in done.stderr and len(lines) + ties == 50
    refused = playground("export", "--format", "dpo", "--out", str(out), db_url=url)
    assert refused.returncode == 2 and "not overwritten (add --force)" in refused.stderr
    assert out.read_text().splitlines() == lines  # untouched
    assert playground("export", "--format", "csv", "--out", str(out), "--force", db_url=url).returncode == 0
    assert out.read_text().startswith("rating_id,")
    unknown = playground("export", "--format", "parquet", db_url=url)
    assert unknown.returncode == 2 and "jsonl, csv, dpo, fastchat" in unknown.stderr


def test_report_and_every_export_on_a_new_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"  # not even created yet
    report = playground("report", db_url=url)
    assert report.returncode == 0 and "No votes match these filters yet" in report.stdout
    for fmt in ("jsonl", "csv", "dpo", "fastchat"):
        done = playground("export", "--format", fmt, db_url=url)
        assert done.returncode == 0 and f"{fmt}: wrote 0, skipped 0" in done.stderr


def test_bench_stats_prints_its_figures(tmp_path: Path) -> None:
    done = playground("bench", "stats", "--json", "--votes", "3000", "--models", "5", "--export-votes", "1000",
                      db_url=f"sqlite:///{tmp_path / 'unused.db'}")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["top_model"] == "model-00"  # the simulated strongest
    assert 0 < figures["bt_bootstrap_seconds"] < 60
    assert figures["export"]["csv"]["rows"] == 2000 and figures["export"]["fastchat"]["rows"] == 1000
    assert figures["export_rows_per_s"] == min(f["rows_per_s"] for f in figures["export"].values()) > 0
    assert figures["peak_rss_mb"] > 0 and figures["export_peak_rss_mb"] > 0


def test_fastchat_tstamp_is_the_vote_time_whatever_the_machine_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "tz.db"
    url = synthetic_database(path, votes=5)
    # Los Angeles is 7 or 8 hours behind UTC: a stored UTC time read as local time would be off by that.
    done = subprocess.run(
        [sys.executable, "-m", "playground.cli", "export", "--format", "fastchat"], text=True, capture_output=True,
        cwd=PROJECT_ROOT, env=dict(os.environ, PLAYGROUND_DATABASE_URL=url, TZ="America/Los_Angeles"), timeout=300,
    )
    assert done.returncode == 0, done.stderr
    exported = {int(b["question_id"]): b["tstamp"] for b in map(json.loads, done.stdout.splitlines())}
    with sqlite3.connect(path) as connection:
        stored = dict(connection.execute("SELECT turn_id, created_at FROM votes").fetchall())
    assert len(exported) == len(stored) == 5
    for turn_id, created_at in stored.items():
        # SQLite holds the UTC time without its zone.
        when = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
        assert abs(exported[turn_id] - when.timestamp()) < 1e-3, (created_at, exported[turn_id])
