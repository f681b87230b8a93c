"""Pane redraws are merged: bounded per second, always ending on the final state."""

from __future__ import annotations

import asyncio

from playground.ui.throttle import REDRAW_INTERVAL_S, RedrawThrottle


async def test_fast_stream_is_merged_and_final_state_drawn() -> None:
    # The throttle's clock is the event loop's, the clock its sleeps are measured on: the gaps
    # between redraws are then exact, however busy the machine (a slow machine only widens them).
    loop = asyncio.get_running_loop()
    state = {"n": 0}
    drawn: list[tuple[float, int]] = []

    async def redraw() -> None:
        drawn.append((loop.time(), state["n"]))

    throttle = RedrawThrottle(redraw, clock=loop.time)
    for _ in range(400):  # a change every millisecond or so: far more than the throttle draws
        for _ in range(2):
            state["n"] += 1
            throttle.changed()
        await asyncio.sleep(0.001)
    await throttle.close()
    times = [t for t, _ in drawn]
    states = [n for _, n in drawn]
    assert states[-1] == state["n"]  # the final state is on screen
    assert states == sorted(states)  # never an older state after a newer one
    # Merged: redraws while streaming are at least min_interval apart (the last one, close(),
    # draws at once), and there are far fewer of them than changes.
    gaps = [b - a for a, b in zip(times[:-2], times[1:-1], strict=True)]
    assert all(gap >= REDRAW_INTERVAL_S - 1e-6 for gap in gaps), gaps
    assert len(drawn) < state["n"] / 10
    assert len(drawn) >= 3  # and it does redraw while streaming, not only at the end


async def test_slow_changes_are_drawn_promptly() -> None:
    # A change after a quiet spell is drawn at once, not after min_interval: nothing to merge.
    loop = asyncio.get_running_loop()
    drawn: list[float] = []

    async def redraw() -> None:
        drawn.append(loop.time())

    throttle = RedrawThrottle(redraw, min_interval=0.05, clock=loop.time)
    throttle.changed()
    await asyncio.sleep(0)  # one turn of the loop: the throttle's task starts and draws
    await asyncio.sleep(0)
    assert len(drawn) == 1
    await asyncio.sleep(0.1)  # quiet for longer than min_interval
    assert len(drawn) == 1  # no change, no redraw
    throttle.changed()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(drawn) == 2  # drawn within two turns of the loop: not held back for min_interval
    await throttle.close()
    assert len(drawn) == 3


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


async def test_a_slow_stream_is_drawn_in_bytes_worth_chunks_within_the_max_latency() -> None:
    # One token of 4 characters every 40 ms: below min_chars a redraw waits for more text, but
    # never longer than max_latency after the first undrawn change.
    loop = asyncio.get_running_loop()
    state = {"chars": 0}
    drawn: list[tuple[float, int]] = []

    async def redraw() -> None:
        drawn.append((loop.time(), state["chars"]))

    throttle = RedrawThrottle(redraw, min_interval=0.02, clock=loop.time, min_chars=24, max_latency=0.15)
    state["chars"] = 4
    throttle.changed()  # the first text: urgent, drawn at once
    for _ in range(30):
        await asyncio.sleep(0.04)
        state["chars"] += 4
        throttle.changed(4)
    await throttle.close()
    assert drawn[0][1] == 4 and drawn[-1][1] == state["chars"]
    sizes = [b - a for (_, a), (_, b) in zip(drawn[:-1], drawn[1:-1], strict=False)]
    assert all(size >= 16 for size in sizes), sizes  # merged: several tokens a redraw, not one
    gaps = [b - a for (a, _), (b, _) in zip(drawn[1:-2], drawn[2:-1], strict=True)]
    assert all(gap <= 0.15 + 0.04 + 0.03 for gap in gaps), gaps  # the latency bound (+ a token, + slack)
    assert len(drawn) < 30 / 3


async def test_enough_text_or_a_status_change_is_drawn_after_min_interval_only() -> None:
    loop = asyncio.get_running_loop()
    drawn: list[float] = []

    async def redraw() -> None:
        drawn.append(loop.time())

    throttle = RedrawThrottle(redraw, min_interval=0.05, clock=loop.time, min_chars=24, max_latency=10)
    throttle.changed(5)
    await asyncio.sleep(0.1)
    assert drawn == []  # 5 characters: waiting for more (up to max_latency)
    start = loop.time()
    throttle.changed(30)  # now enough: drawn at once (the last draw is long ago)
    await asyncio.sleep(0.01)
    assert len(drawn) == 1 and drawn[0] - start < 0.01
    throttle.changed(2)
    throttle.changed()  # a status change: drawn as soon as min_interval allows
    await asyncio.sleep(0.1)
    assert len(drawn) == 2 and drawn[1] - drawn[0] >= 0.05 - 1e-6
    await throttle.close()
    assert len(drawn) == 3


async def test_a_change_wakes_the_drawing_task_only_when_it_makes_a_draw_due_sooner() -> None:
    """With 100 streams, a wake per token was a tenth of the app's loop: tokens that only add to
    the pending text leave the drawing task asleep until the text is enough or the latency is up."""
    loop = asyncio.get_running_loop()
    drawn: list[float] = []

    async def redraw() -> None:
        drawn.append(loop.time())

    throttle = RedrawThrottle(redraw, min_interval=0.01, clock=loop.time, min_chars=100, max_latency=0.3)
    throttle.changed()  # the first text: drawn at once
    await asyncio.sleep(0.02)
    assert len(drawn) == 1
    for _ in range(24):  # 96 characters: not enough, so the task sleeps until max_latency
        throttle.changed(4)
        await asyncio.sleep(0.002)
    assert throttle.wakes == 1 and len(drawn) == 1  # the first woke it from idle, the rest did not
    throttle.changed(4)  # 100 characters: due now, so this one wakes it
    assert throttle.wakes == 2
    await asyncio.sleep(0.01)
    assert len(drawn) == 2
    throttle.changed(4)  # from idle again
    throttle.changed()  # a status: due sooner than the latency bound, but it is awake already
    assert throttle.wakes == 3
    await throttle.close()
    assert len(drawn) == 3  # both pending changes in the one final draw
