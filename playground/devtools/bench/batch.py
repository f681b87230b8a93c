"""``playground bench batch``: prompt-set items per second at several concurrencies against the
demo vLLM server.

Both sides are the demo vLLM model (under two names), so the figure shows what concurrency does
for a vLLM endpoint, which batches concurrent requests; a local transformers model takes one
request at a time whatever the concurrency. Each level runs the same number of items (quick-20,
cycled) into its own temporary SQLite database, so nothing is skipped as already done.
``concurrency_speedup`` = items/s at the highest level / items/s at 1.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from playground.arena.batch import run_batch
from playground.arena.duel import TurnSettings
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, parse_config
from playground.devtools.demo_stack import demo_vllm_model
from playground.evalsets.prompt_sets import PromptSet, load_prompt_set
from playground.store.database import Database
from playground.store.migrate import upgrade

LEFT, RIGHT = "vllm-left", "vllm-right"


def _vllm_pair(demo: PlaygroundConfig) -> PlaygroundConfig:
    served = demo_vllm_model(demo).model_dump()
    return parse_config(
        {"models": [{**served, "name": LEFT}, {**served, "name": RIGHT}],
         "arena": {"model_a": LEFT, "model_b": RIGHT}},
        f"{demo.source} (bench batch)",
    )


def _items(count: int) -> PromptSet:
    quick = load_prompt_set("quick-20")
    items = [quick.items[i % len(quick.items)].model_copy(update={"id": f"{quick.items[i % len(quick.items)].id}-{i}"})
             for i in range(count)]
    return PromptSet(name="bench", description="quick-20, cycled", items=items)


async def bench_batch(demo: PlaygroundConfig, levels: tuple[int, ...] = (1, 4, 16), items: int = 32,
                      max_tokens: int = 64) -> dict[str, Any]:
    config = _vllm_pair(demo)
    prompt_set = _items(items)
    settings = TurnSettings(temperature=0.0, max_tokens=max_tokens)
    figures: dict[str, Any] = {"items": items, "max_tokens": max_tokens}
    pool = BackendPool(config)
    # One warm-up item: the first request pays for connections and vLLM's first compilation.
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'warm.db'}")
        await upgrade(db)
        await run_batch(db, config, pool, _items(1), (LEFT, RIGHT), settings=settings)
        await db.dispose()
    for level in levels:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            try:
                await upgrade(db)
                started = time.perf_counter()
                result = await run_batch(db, config, pool, prompt_set, (LEFT, RIGHT), concurrency=level,
                                         settings=settings, seed=level)
                seconds = time.perf_counter() - started
            finally:
                await db.dispose()
        figures[f"items_per_s_c{level}"] = round(result.done / seconds, 3)
        figures[f"failed_c{level}"] = len(result.failed)
    fastest, slowest = figures[f"items_per_s_c{levels[-1]}"], figures[f"items_per_s_c{levels[0]}"]
    figures["concurrency_speedup"] = round(fastest / slowest, 2)
    return figures
