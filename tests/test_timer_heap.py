"""Cancelled timers dropped from the heap of a loop patched by nest_asyncio (as ``chainlit run``
patches the app's). In a fresh process: nest_asyncio patches asyncio for the whole process."""

from __future__ import annotations

import json
import subprocess
import sys

SWEEP = """
import asyncio, json, nest_asyncio
nest_asyncio.apply()  # its loop leaves cancelled timers in the heap
from playground.core.timer_heap import TimerHeapSweeper

async def main():
    loop = asyncio.get_running_loop()
    for _ in range(2000):
        loop.call_later(300, print, "never").cancel()
    fired = asyncio.Event()
    loop.call_later(0.3, fired.set)  # a live timer among them
    await asyncio.sleep(0.05)
    before = len(loop._scheduled)
    sweeper = TimerHeapSweeper(period_s=0.1)
    sweeper.start()
    await asyncio.wait_for(fired.wait(), 5)
    summary = sweeper.summary()
    await sweeper.stop()
    return {"before": before, "after": len(loop._scheduled), "dropped": sweeper.dropped, "summary": summary}

print(json.dumps(asyncio.get_event_loop().run_until_complete(main())))
"""


def run_script(script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cancelled_timers_are_dropped_and_live_ones_still_fire() -> None:
    found = run_script(SWEEP)
    assert found["before"] >= 2000, found  # nest_asyncio's loop kept them
    assert found["dropped"] >= 2000 and found["after"] < 50, found
    assert found["summary"]["c_tasks"] is False  # nest_asyncio's pure-Python tasks, as reported
