"""The order of one process's SQLite writers: urgent ones first, each kind in arrival order."""

from __future__ import annotations

import asyncio

from playground.store.write_queue import WriteQueue


async def test_urgent_writers_go_before_waiting_background_ones_and_nobody_is_dropped() -> None:
    queue = WriteQueue()
    order: list[str] = []

    async def writer(name: str, priority: str) -> None:
        await queue.acquire(priority)  # type: ignore[arg-type]
        try:
            order.append(name)
            await asyncio.sleep(0.001)
        finally:
            queue.release()

    await queue.acquire("background")  # a write in progress: everyone else queues
    tasks = [asyncio.create_task(writer(name, priority)) for name, priority in
             [("b1", "background"), ("u1", "urgent"), ("b2", "background"), ("u2", "urgent")]]
    await asyncio.sleep(0.01)
    assert (queue.waiting("urgent"), queue.waiting("background")) == (2, 2)
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "b1", "b2"]
    assert not queue.held


async def test_a_cancelled_waiter_passes_the_lock_on() -> None:
    queue = WriteQueue()
    await queue.acquire()
    cancelled = asyncio.create_task(queue.acquire("urgent"))
    later = asyncio.create_task(queue.acquire("background"))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    queue.release()
    await asyncio.wait_for(later, 1.0)  # not stuck behind the cancelled one
    assert queue.held
    queue.release()
    assert not queue.held
