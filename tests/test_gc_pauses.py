"""The garbage collector's pauses: timed for /healthz, and kept short by freezing what the app
made at startup."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from playground.core.gc_pauses import GcPauses


def test_each_collection_is_timed_by_generation_within_the_window() -> None:
    pauses = GcPauses()
    pauses.install()
    pauses.install()  # twice is once
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        pauses.uninstall()
    found = pauses.summary(window_s=60)
    assert found["gen2"]["collections"] >= 1 and found["gen0"]["collections"] >= 1, found
    assert 0 < found["gen2"]["max_ms"] <= found["gen2"]["total_ms"], found
    gc.collect(2)  # uninstalled: not counted
    assert pauses.summary(window_s=60)["gen2"]["collections"] == found["gen2"]["collections"]


def test_old_pauses_are_dropped_and_a_window_is_kept() -> None:
    now = [1000.0]
    pauses = GcPauses(keep_s=10.0, wall=lambda: now[0])
    pauses.record(2, 0.150)
    now[0] = 1005.0
    pauses.record(2, 0.002)
    assert pauses.summary(since=1004.0)["gen2"] == {"collections": 1, "max_ms": 2.0, "total_ms": 2.0}
    assert pauses.summary(window_s=60)["gen2"]["max_ms"] == 150.0
    now[0] = 1012.0
    pauses.record(1, 0.001)
    assert pauses.summary(window_s=60)["gen2"]["collections"] == 1  # the 150 ms one is gone


# In a fresh process holding what an app process holds after its imports: a full collection before
# and after freezing them, each the fastest of three.
FREEZE_SCRIPT = """
import gc, json, time
import chainlit.server, sqlmodel, aiohttp, httpx  # noqa: F401
import playground.ui.duel_flow  # noqa: F401
from playground.core.gc_pauses import freeze_startup_objects

def full_ms():
    times = []
    for _ in range(3):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)

before = full_ms()
frozen = freeze_startup_objects()
print(json.dumps({"before_ms": before, "after_ms": full_ms(), "frozen": frozen}))
"""


def test_freezing_the_startup_objects_makes_a_full_collection_short() -> None:
    done = subprocess.run([sys.executable, "-c", FREEZE_SCRIPT], capture_output=True, text=True,
                          timeout=120, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["frozen"] > 100_000, found
    # Walking a few hundred thousand objects against walking what was made since: far apart on
    # any machine, so the ratio is safe to assert (it is about 100x).
    assert found["after_ms"] * 10 < found["before_ms"], found
