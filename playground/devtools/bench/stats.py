"""``playground bench stats``: the leaderboard and the exports at scale.

* ``bt_bootstrap_seconds``: counting ``votes`` synthetic votes over ``models`` models and fitting
  Bradley-Terry with 100 bootstrap rounds (goal <= 10 s on a 2-core machine);
* ``bt_style_seconds``: the same for the style-controlled fit (stats/style.py) on as many styled
  synthetic votes;
* ``export_rows_per_s``: the slowest of the four export formats, rows written per second, from a
  SQLite database holding ``export_votes`` stored votes (each with its turn, both answers and both
  ratings); every format's own figure is under ``export``;
* ``adaptive_votes_saved_ratio`` (and ``_fresh``, the details under ``pair_sampling``): votes
  uniform pair sampling needs / votes adaptive sampling needs for the same interval width, in
  simulation (playground/devtools/bench/pairs.py; goal >= 1.3);
* ``peak_rss_mb``: this process's peak resident memory (the synthetic votes themselves included);
  ``export_peak_rss_mb``: the peak of a separate ``playground export --format jsonl`` process on
  the same database, which shows whether an export's memory grows with the database.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from playground.devtools.bench.pairs import run_pairs_bench
from playground.devtools.synthetic_store import store_battles
from playground.output.export import FORMATS, export
from playground.stats.bradley_terry import bradley_terry, count_battles
from playground.stats.style import count_styled, style_controlled
from playground.stats.synthetic import simulate_battles, simulate_styled_battles, true_ratings
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.report_filters import Filters


class _Discard(io.TextIOBase):
    """A sink that costs nothing, so that the figure is the export's, not the disk's."""

    def write(self, text: str) -> int:
        return len(text)


def _style_seconds(votes: int, models: int, seed: int) -> float:
    """``bt_style_seconds``: counting ``votes`` styled synthetic votes into cells and fitting the
    style-controlled Bradley-Terry with 100 bootstrap rounds (goal <= 10 s on 2 cores)."""
    battles, styles = simulate_styled_battles(true_ratings(models, spread=25.0), votes, np.random.default_rng(seed),
                                              length_bias=0.5, tie_rate=0.1)
    started = time.perf_counter()
    style_controlled(count_styled(battles, styles), rounds=100, seed=seed, interval="bootstrap")
    return round(time.perf_counter() - started, 3)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def run_stats_bench(
    votes: int = 1_000_000, models: int = 20, export_votes: int = 1_000_000, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    battles = simulate_battles(true_ratings(models, spread=25.0), votes, rng, tie_rate=0.1)

    started = time.perf_counter()
    ratings = bradley_terry(count_battles(battles), rounds=100, seed=seed, interval="bootstrap")
    bt_seconds = time.perf_counter() - started

    result: dict[str, Any] = {
        "votes": votes, "models": models, "bt_bootstrap_seconds": round(bt_seconds, 3),
        "top_model": ratings[0].model, "export_votes": export_votes,
    }
    result["bt_style_seconds"] = _style_seconds(votes, models, seed)
    result.update(run_pairs_bench(seed=seed))
    with tempfile.TemporaryDirectory(prefix="playground-bench-stats-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'stats.db'}"
        db = Database(url)
        try:
            await upgrade(db)
            started = time.perf_counter()
            await store_battles(db, battles[:export_votes])
            result["store_seconds"] = round(time.perf_counter() - started, 1)
            del battles  # the exports below should not be charged for them
            per_format = {}
            for fmt in FORMATS:
                started = time.perf_counter()
                counts = await export(db, fmt, cast(IO[str], _Discard()), Filters(blind_only=False))
                seconds = time.perf_counter() - started
                per_format[fmt] = {"rows": counts.written, "seconds": round(seconds, 2),
                                   "rows_per_s": round(counts.written / seconds)}
        finally:
            await db.dispose()
        result["export"] = per_format
        result["export_rows_per_s"] = min(f["rows_per_s"] for f in per_format.values())
        result["peak_rss_mb"] = round(_peak_rss_mb())
        result["export_peak_rss_mb"] = _export_process_peak_rss_mb(url)
    return result


# The real command in a fresh interpreter, which reports its own peak from /proc (VmHWM, reset
# by exec): getrusage's maxrss survives exec on Linux and would report this large process's peak.
_MEASURED_EXPORT = """
import re, sys
from playground.cli.main import app
try:
    app(["export", "--format", "jsonl", "--all-votes", "--out", sys.argv[1], "--force"])
except SystemExit as exit:
    if exit.code:
        raise
with open("/proc/self/status") as status:
    print("peak_rss_kib", re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1), file=sys.stderr)
"""


def _export_process_peak_rss_mb(url: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED_EXPORT, os.devnull],
        env=dict(os.environ, PLAYGROUND_DATABASE_URL=url), check=True, capture_output=True, text=True,
    )
    kib = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("peak_rss_kib"))
    return round(int(kib) / 1024)
