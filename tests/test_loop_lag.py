"""The event-loop lag monitor that /healthz and the load benchmark read."""

from __future__ import annotations

import asyncio
import time

from playground.core.loop_lag import LoopLagMonitor


async def test_a_blocked_loop_shows_as_lag_and_a_free_one_does_not() -> None:
    monitor = LoopLagMonitor(period_s=0.005)
    monitor.start()
    monitor.start()  # twice is once
    await asyncio.sleep(0.3)
    free = monitor.summary(window_s=60)
    assert free["samples"] >= 20
    assert free["p50_ms"] < 20  # an idle loop wakes about on time
    blocked_at = time.time()
    time.sleep(0.25)  # a CPU-bound call on the loop: every session waits
    await asyncio.sleep(0.05)
    after = monitor.summary(since=blocked_at)
    assert after["max_ms"] >= 200
    assert monitor.running
    await monitor.stop()
    assert not monitor.running
    count = monitor.summary(window_s=60)["samples"]
    await asyncio.sleep(0.05)
    assert monitor.summary(window_s=60)["samples"] == count  # stopped: no more samples


def test_old_samples_are_dropped_and_the_window_is_kept() -> None:
    now = [1000.0]
    monitor = LoopLagMonitor(keep_s=10.0, wall=lambda: now[0])
    monitor.record(0.5)
    now[0] = 1005.0
    monitor.record(0.001)
    assert monitor.summary(since=1004.0)["samples"] == 1
    assert monitor.summary(window_s=60)["max_ms"] == 500.0
    now[0] = 1012.0
    monitor.record(0.002)  # the first sample is now older than keep_s
    assert monitor.summary(window_s=60)["samples"] == 2
    assert monitor.summary(since=2000.0) == {"samples": 0, "period_ms": 10.0, "since": 2000.0}
