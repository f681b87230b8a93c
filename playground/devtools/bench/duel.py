"""``playground bench duel``: is the duel really parallel, and does it keep the app responsive?

All figures are measured side by side in one run (these machines are noisy):

* ``fanout_ratio``: total wall time of paired turns / total of the larger single-model time for
  the same prompts. 1.0 means the pair costs no more than its slower side; a sequential gateway
  is about 2.
* ``loop_lag_p99_ms``: p99 of the event loop's lag (how late a 5 ms timer fires) while the local
  transformers model generates.
* ``ui_updates_per_s``: redraws per second of the app's throttled pane updates under a synthetic
  stream of more than 500 tokens a second.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from playground.arena.duel import Contender, Duel, TurnSettings
from playground.backends.local_transformers import TransformersBackend
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.core.events import Done, TextDelta
from playground.core.generation import Generation
from playground.core.vocabulary import SIDES, Side
from playground.ui.panes import duel_props
from playground.ui.throttle import RedrawThrottle

PROMPTS = [
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "Write a Python function that reverses a string.",
    "计算:99 × 99 = ? 只回答数字。",
    "If it takes 5 machines 5 minutes to make 5 widgets, how long for 100 machines?",
]


async def _time_single(contender: Contender, prompt: str, settings: TurnSettings) -> float:
    params = settings.sampling_for(contender.defaults)
    start = time.perf_counter()
    async for event in contender.backend.stream(contender.messages_for(prompt, ""), params):
        if event.kind == "error":
            raise RuntimeError(f"{contender.model}: {getattr(event, 'message', event)}")
    return time.perf_counter() - start


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine so far (all cores, from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def _time_pair(
    a: Contender, b: Contender, prompt: str, settings: TurnSettings, busy: list[float] | None = None
) -> float:
    duel = Duel(contenders={"a": a, "b": b}, blind=False)
    turn = duel.start_turn(prompt, settings)
    busy_before = machine_busy_seconds()
    start = time.perf_counter()
    async for _ in turn.stream():
        pass
    elapsed = time.perf_counter() - start
    if busy is not None:
        busy.append(machine_busy_seconds() - busy_before)
    for record in turn.records().values():
        if record.error:
            raise RuntimeError(f"{record.model}: {record.error}")
    a.history.clear()  # every paired turn starts fresh, like the single runs
    b.history.clear()
    return elapsed


async def _loop_lag_while(work: Any, period: float = 0.005) -> tuple[Any, list[float]]:
    lags: list[float] = []
    running = True

    async def probe() -> None:
        while running:
            start = time.perf_counter()
            await asyncio.sleep(period)
            lags.append(time.perf_counter() - start - period)

    task = asyncio.create_task(probe())
    try:
        result = await work
    finally:
        running = False
        await task
    return result, lags


async def _ui_updates_per_s(tokens_per_s: float = 1000.0, seconds: float = 2.0) -> dict[str, float]:
    """Drive the app's real redraw path (props + markdown) with a fast synthetic stream."""
    generations: dict[Side, Generation] = {"a": Generation("a", "fast-a"), "b": Generation("b", "fast-b")}
    for g in generations.values():
        g.start()

    async def redraw() -> None:
        duel_props(generations, blind=True)

    throttle = RedrawThrottle(redraw)
    burst = 10  # asyncio timers are ~1 ms grained: emit tokens in small bursts
    sent = 0
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * tokens_per_s) - sent
        for _ in range(max(due, 0)):
            side: Side = "a" if sent % 2 else "b"
            generations[side].feed(TextDelta("tok "))
            throttle.changed()
            sent += 1
        await asyncio.sleep(burst / tokens_per_s)
    for g in generations.values():
        g.feed(Done("stop"))
    await throttle.close()
    elapsed = time.perf_counter() - start
    return {"ui_updates_per_s": throttle.redraws / elapsed, "ui_tokens_per_s": sent / elapsed}


async def bench_duel(config: PlaygroundConfig, max_tokens: int = 128) -> dict[str, Any]:
    pool = BackendPool(config)
    names = (config.arena.model_a, config.arena.model_b)
    a, b = (Contender(side, name, pool.get(name), config.model(name).defaults)
            for side, name in zip(SIDES, names, strict=True))
    for contender in (a, b):
        if isinstance(contender.backend, TransformersBackend):
            await contender.backend.load()
    # Greedy decoding: the same prompt gives the same answer alone and in a pair.
    settings = TurnSettings(temperature=0.0, max_tokens=max_tokens)
    await _time_pair(a, b, "warm up", settings)

    singles_a: list[float] = []
    singles_b: list[float] = []
    pairs: list[float] = []
    lags: list[float] = []
    pair_busy: list[float] = []
    local = next((c for c in (a, b) if isinstance(c.backend, TransformersBackend)), None)
    for prompt in PROMPTS:
        for contender, times in ((a, singles_a), (b, singles_b)):
            work = _time_single(contender, prompt, settings)
            if contender is local:
                elapsed, seen = await _loop_lag_while(work)
                lags.extend(seen)
            else:
                elapsed = await work
            times.append(elapsed)
        pairs.append(await _time_pair(a, b, prompt, settings, pair_busy))

    slower = [max(x, y) for x, y in zip(singles_a, singles_b, strict=True)]
    # When both backends share this machine's CPU cores, a pair cannot finish before the CPU
    # work it needs is done: busy seconds / cores. The overhead of the fan-out itself is the pair's
    # wall time over the larger of that floor and the slower single run.
    cores = os.cpu_count() or 1
    floors = [max(s, busy / cores) for s, busy in zip(slower, pair_busy, strict=True)]
    result: dict[str, Any] = {
        "fanout_ratio": round(sum(pairs) / sum(slower), 3),
        "fanout_ratio_median": round(statistics.median(p / s for p, s in zip(pairs, slower, strict=True)), 3),
        "fanout_overhead_vs_cpu_floor": round(sum(pairs) / sum(floors), 3),
        "pair_cpu_busy_s_total": round(sum(pair_busy), 3),
        "cpu_cores": cores,
        "paired_s_total": round(sum(pairs), 3),
        "single_a_s_total": round(sum(singles_a), 3),
        "single_b_s_total": round(sum(singles_b), 3),
        "sequential_s_total": round(sum(singles_a) + sum(singles_b), 3),
        "per_prompt": [
            {"a": round(x, 3), "b": round(y, 3), "pair": round(p, 3)}
            for x, y, p in zip(singles_a, singles_b, pairs, strict=True)
        ],
        "prompts": len(PROMPTS),
        "max_tokens": max_tokens,
        "models": {"a": a.model, "b": b.model},
    }
    if lags:
        result["loop_lag_p99_ms"] = round(statistics.quantiles(lags, n=100)[98] * 1000, 2)
        result["loop_lag_samples"] = len(lags)
    ui = await _ui_updates_per_s()
    result.update({key: round(value, 2) for key, value in ui.items()})
    return result
