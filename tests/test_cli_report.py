"""`playground report` and `playground export`, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from playground.devtools.synthetic_store import store_battles
from playground.stats.synthetic import simulate_battles, true_ratings
from playground.store.database import Database
from playground.store.migrate import upgrade

from .test_cli_store import playground


def synthetic_database(path: Path, votes: int = 300) -> str:
    url = f"sqlite:///{path}"

    async def fill() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            await store_battles(db, simulate_battles(true_ratings(3, 120), votes, np.random.default_rng(0), tie_rate=0.1))
        finally:
            await db.dispose()

    asyncio.run(fill())
    return url


def test_report_json_terminal_and_html(tmp_path: Path) -> None:
    url = synthetic_database(tmp_path / "r.db")
    done = playground("report", "--json", db_url=url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["votes"] == 300 and [r["model"] for r in report["bradley_terry"]] == ["model-00", "model-01", "model-02"]
    assert [p["items"] for p in report["agreement_by_rater_pair"]] == []  # one rater per synthetic item

    table = playground("report", db_url=url)
    assert table.returncode == 0 and "Leaderboard" in table.stdout and "model-00" in table.stdout
    assert "Position bias" in table.stdout

    page = tmp_path / "report.html"
    html = playground("report", "--html", str(page), db_url=url)
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    # Self-contained: every plot embedded, nothing fetched.
    assert text.count('src="data:image/png;base64,') == 5  # no categories here: no per-category plot
    assert "http://" not in text and "https://" not in text
    for title in ("Ratings", "Win-rate matrix", "Battle counts", "Scores by model", "Latency"):
        assert f"<h2>{title}</h2>" in text
    again = playground("report", "--html", str(page), db_url=url)
    assert again.returncode == 2 and "not overwritten" in again.stderr
    assert playground("report", "--html", str(page), "--force", db_url=url).returncode == 0

    filtered = json.loads(playground("report", "--json", "--models", "model-00,model-01", db_url=url).stdout)
    assert 0 < filtered["votes"] < 300 and {r["model"] for r in filtered["bradley_terry"]} == {"model-00", "model-01"}
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
