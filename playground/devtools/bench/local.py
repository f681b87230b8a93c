"""``playground bench local``: does the local transformers model batch concurrent raters?

The demo-b checkpoint (built if missing) answers the same prompts greedily, ``max_tokens`` new
tokens each (the demo models never stop early), first one request at a time, then all at once:

* ``tokens_per_s_1`` / ``tokens_per_s_8``: generated tokens per second of wall time with 1 and
  with 8 (``concurrency``) requests in flight; ``local_batch_speedup`` is their ratio (goal >= 3
  on the CPU).
* The same through a worker process (``process: worker``): ``worker_tokens_per_s_1``,
  ``worker_tokens_per_s_8``, ``worker_batch_speedup``.
* ``one_at_a_time_tokens_per_s_8``: 8 at once with ``batching: false`` (generate(), one request
  at a time: the figure batching replaces).
* ``chunks_per_s_8``: streamed text pieces per second at 8 at once (what the panes receive), and
  ``ttft_p50_ms_8``: the median time to first token then.

Each figure is measured ``rounds`` times and the best round kept (these machines are noisy).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from playground.backends.local_transformers import TransformersBackend
from playground.backends.worker_transformers import WorkerTransformersBackend
from playground.core.config import TransformersModel
from playground.core.events import Done, ErrorEvent, SamplingParams, TextDelta
from playground.devtools.bench.duel import PROMPTS as DUEL_PROMPTS

PROMPTS = [
    *DUEL_PROMPTS,
    "Name three colours.",
    "What is 15 + 27?",
    "Translate 'good morning' into French.",
]

Local = TransformersBackend | WorkerTransformersBackend


async def _one(backend: Local, prompt: str, params: SamplingParams) -> dict[str, float]:
    start = time.perf_counter()
    first: float | None = None
    chunks = 0
    async for event in backend.stream([{"role": "user", "content": prompt}], params):
        if isinstance(event, TextDelta):
            chunks += 1
            first = first or time.perf_counter()
        elif isinstance(event, ErrorEvent):
            raise RuntimeError(f"{backend.name}: {event.message}")
        elif isinstance(event, Done):
            return {"tokens": float(event.output_tokens or 0), "chunks": float(chunks),
                    "ttft": (first or time.perf_counter()) - start}
    raise RuntimeError(f"{backend.name}: the stream ended without Done")


async def _round(backend: Local, concurrency: int, params: SamplingParams) -> dict[str, Any]:
    """Every prompt once, ``concurrency`` in flight at a time."""
    start = time.perf_counter()
    results: list[dict[str, float]] = []
    for at in range(0, len(PROMPTS), concurrency):
        batch = PROMPTS[at : at + concurrency]
        results.extend(await asyncio.gather(*(_one(backend, p, params) for p in batch)))
    elapsed = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in results)
    return {"tokens_per_s": tokens / elapsed, "chunks_per_s": sum(r["chunks"] for r in results) / elapsed,
            "ttft_p50_ms": statistics.median(r["ttft"] for r in results) * 1000, "seconds": elapsed,
            "tokens": tokens}


async def _best(backend: Local, concurrency: int, params: SamplingParams, rounds: int) -> dict[str, Any]:
    runs = [await _round(backend, concurrency, params) for _ in range(rounds)]
    return max(runs, key=lambda r: r["tokens_per_s"])


async def _measure(backend: Local, concurrency: int, params: SamplingParams, rounds: int) -> dict[str, Any]:
    await backend.load()
    await _round(backend, concurrency, params)  # warm-up, not reported
    alone = await _best(backend, 1, params, rounds)
    together = await _best(backend, concurrency, params, rounds)
    return {"1": alone, str(concurrency): together}


async def bench_local(model: TransformersModel, path: Any, max_tokens: int = 128, concurrency: int = 8,
                      rounds: int = 2) -> dict[str, Any]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    c = str(concurrency)
    in_app = TransformersBackend(model, path)
    try:
        app = await _measure(in_app, concurrency, params, rounds)
        batching_off = in_app.batching_off
    finally:
        await in_app.close()
    in_worker = WorkerTransformersBackend(model.model_copy(update={"process": "worker"}), path)
    try:
        worker = await _measure(in_worker, concurrency, params, rounds)
    finally:
        await in_worker.close()
    one_at_a_time = TransformersBackend(model.model_copy(update={"batching": False}), path)
    await one_at_a_time.load()
    await _round(one_at_a_time, concurrency, SamplingParams(temperature=0.0, max_tokens=8))  # warm-up
    sequential = await _best(one_at_a_time, concurrency, params, 1)
    return {
        "local_batch_speedup": round(app[c]["tokens_per_s"] / app["1"]["tokens_per_s"], 2),
        "tokens_per_s_1": round(app["1"]["tokens_per_s"], 1),
        f"tokens_per_s_{c}": round(app[c]["tokens_per_s"], 1),
        "worker_batch_speedup": round(worker[c]["tokens_per_s"] / worker["1"]["tokens_per_s"], 2),
        "worker_tokens_per_s_1": round(worker["1"]["tokens_per_s"], 1),
        f"worker_tokens_per_s_{c}": round(worker[c]["tokens_per_s"], 1),
        f"one_at_a_time_tokens_per_s_{c}": round(sequential["tokens_per_s"], 1),
        f"chunks_per_s_{c}": round(app[c]["chunks_per_s"], 1),
        "chunks_per_s_1": round(app["1"]["chunks_per_s"], 1),
        f"ttft_p50_ms_{c}": round(app[c]["ttft_p50_ms"], 1),
        "ttft_p50_ms_1": round(app["1"]["ttft_p50_ms"], 1),
        f"worker_ttft_p50_ms_{c}": round(worker[c]["ttft_p50_ms"], 1),
        "batching_off": batching_off,
        "prompts": len(PROMPTS),
        "max_tokens": max_tokens,
        "concurrency": concurrency,
        "rounds": rounds,
        "model": {"path": str(path), "device": model.device, "dtype": model.dtype, "threads": model.threads,
                  "max_batch": model.max_batch},
    }


def demo_b_model(threads: int | None = None) -> tuple[TransformersModel, Any]:
    """The demo-b checkpoint (built first if missing) as a local model on the CPU."""
    from playground.devtools.demo_models import build_demo_models
    from playground.devtools.demo_stack import demo_models_dir

    build_demo_models(demo_models_dir())
    path = demo_models_dir() / "demo-b"
    model = TransformersModel(name="demo-b-bench", backend="transformers", path=str(path), device="cpu",
                              dtype="float32", threads=threads, context_window=2048)
    return model, path
