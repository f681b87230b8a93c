"""Pane redraws are merged: bounded per second, always ending on the final state."""

from __future__ import annotations

import asyncio
import time

from playground.ui.throttle import REDRAW_INTERVAL_S, RedrawThrottle


async def test_fast_stream_is_merged_and_final_state_drawn() -> None:
    state = {"n": 0}
    drawn: list[int] = []

    async def redraw() -> None:
        drawn.append(state["n"])

    throttle = RedrawThrottle(redraw)
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:  # ~2000 changes a second
        for _ in range(2):
            state["n"] += 1
            throttle.changed()
        await asyncio.sleep(0.001)
    await throttle.close()
    elapsed = time.perf_counter() - start
    assert drawn[-1] == state["n"]  # the final state is on screen
    assert drawn == sorted(drawn)  # never an older state after a newer one
    assert len(drawn) <= elapsed / REDRAW_INTERVAL_S + 2
    assert len(drawn) >= 5  # and it does redraw while streaming, not only at the end
    assert REDRAW_INTERVAL_S >= 1 / 20


async def test_slow_changes_are_drawn_promptly() -> None:
    drawn: list[float] = []

    async def redraw() -> None:
        drawn.append(time.perf_counter())

    throttle = RedrawThrottle(redraw, min_interval=0.05)
    changed_at = time.perf_counter()
    throttle.changed()
    await asyncio.sleep(0.3)
    assert len(drawn) == 1 and drawn[0] - changed_at < 0.2
    await throttle.close()
    assert len(drawn) == 2


async def test_close_without_changes_draws_once() -> None:
    calls = []

    async def redraw() -> None:
        calls.append(1)

    await RedrawThrottle(redraw).close()
    assert calls == [1]


async def test_close_during_a_draw_still_draws_the_final_state() -> None:
    # As in the app: the redraw reads the state, then awaits the send to the browser. A change
    # and close() that land during that await must still reach the screen.
    state = {"status": "streaming"}
    drawn: list[str] = []
    sending = asyncio.Event()

    async def redraw() -> None:
        snapshot = state["status"]
        sending.set()
        await asyncio.sleep(0.05)  # the send in flight
        drawn.append(snapshot)

    throttle = RedrawThrottle(redraw, min_interval=0.01)
    throttle.changed()
    await sending.wait()
    state["status"] = "done"
    throttle.changed()
    await throttle.close()
    assert drawn[-1] == "done", drawn
