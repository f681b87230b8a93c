"""The app's event loop as asyncio ships it: nest_asyncio (applied by ``chainlit run``) undone, and
cancelled timers dropped from a loop's heap. In fresh processes: nest_asyncio patches asyncio for
the whole process."""

from __future__ import annotations

import json
import subprocess
import sys

UNDO = """
import asyncio, json, nest_asyncio, _asyncio
nest_asyncio.apply()  # what importing chainlit's command line does
patched = asyncio.Task is not _asyncio.Task
from playground.ui.event_loop import undo_nest_asyncio
undone = undo_nest_asyncio()

async def main():
    async def child():
        await asyncio.sleep(0)
        return 7
    loop = asyncio.get_running_loop()
    return {"result": await asyncio.create_task(child()), "task": type(asyncio.current_task()).__module__,
            "run_once_is_asyncio": type(loop)._run_once is asyncio.BaseEventLoop._run_once}

found = asyncio.run(main())
found.update(patched=patched, undone=undone, again=undo_nest_asyncio())
print(json.dumps(found))
"""

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


def test_undoing_nest_asyncio_brings_back_c_tasks_and_asyncios_own_loop() -> None:
    found = run_script(UNDO)
    assert found == {"result": 7, "task": "_asyncio", "run_once_is_asyncio": True, "patched": True,
                     "undone": True, "again": False}, found


def test_cancelled_timers_are_dropped_and_live_ones_still_fire() -> None:
    found = run_script(SWEEP)
    assert found["before"] >= 2000, found  # nest_asyncio's loop kept them
    assert found["dropped"] >= 2000 and found["after"] < 50, found
    assert found["summary"]["c_tasks"] is False  # nest_asyncio's pure-Python tasks, as reported
