"""``playground bench duel --device cuda``: two local models on one GPU, paired, in worker processes
and in the app's own process.

Two random-weight models of Qwen3-4B's shape (:data:`FOUR_B_SHAPE`, bfloat16; nothing downloaded)
are served the way the app serves local models: by :class:`WorkerTransformersBackend`
(``process: worker``, each model in a child process of its own) and, for comparison, by
:class:`TransformersBackend` in this process (``process: app``: both models' decoding loops share
one interpreter and its GIL). The checkpoint folder is made here: the shape's ``config.json`` and
the demo checkpoint's tokenizer (``--tokenizer``; its ids all lie inside the big vocabulary).

For each prompt, greedy with ``max_tokens`` new tokens (random weights never stop early), model A
alone, model B alone, then both at once as a duel turn runs them (two streams on one event loop):
``fanout_ratio_<mode>`` is the total of the paired turns over the total of the slower single of
each prompt: 1.0 means the pair costs no more than its slower side. ``tokens_per_s_<mode>`` is
one stream's rate alone.

Without a CUDA device the result is ``{"device": "cuda", "cuda": null, "reason": ...}`` and the
command exits 0. Like ``longctx_gpu``, this module needs only torch, transformers and pydantic, so
it runs as ``python -m playground.devtools.bench.duel_gpu`` on a GPU machine with little else.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playground.backends.local_transformers import TransformersBackend
from playground.backends.worker_transformers import WorkerTransformersBackend
from playground.core.config import TransformersModel
from playground.core.events import Done, ErrorEvent, SamplingParams
from playground.devtools.bench.longctx_gpu import DEFAULT_TOKENIZER, FOUR_B_SHAPE, cuda_unavailable

PROMPTS = (
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "Write a Python function that reverses a string.",
    "If it takes 5 machines 5 minutes to make 5 widgets, how long for 100 machines?",
    "Name three colours.",
)
WINDOW = 8_192
WEIGHT_FILES = (".safetensors", ".bin", ".pt")


def shaped_checkpoint(tokenizer: Path, target: Path, shape: dict[str, int]) -> Path:
    """A folder with ``shape`` (Qwen3-4B's by default) as config.json and ``tokenizer``'s files:
    what a ``random_weights`` backend builds its model from."""
    from transformers import Qwen3Config

    target.mkdir(parents=True, exist_ok=True)
    for item in tokenizer.iterdir():
        if item.is_file() and not item.name.endswith(WEIGHT_FILES) and item.name not in (
                "config.json", "generation_config.json", "model.safetensors.index.json"):
            shutil.copy2(item, target / item.name)
    options: dict[str, Any] = {**shape, "max_position_embeddings": WINDOW, "tie_word_embeddings": True}
    config = Qwen3Config(**options)
    config.dtype = "bfloat16"
    config.save_pretrained(target)
    return target


Backend = TransformersBackend | WorkerTransformersBackend


async def _one(backend: Backend, prompt: str, params: SamplingParams) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = 0
    async for event in backend.stream([{"role": "user", "content": prompt}], params):
        if isinstance(event, ErrorEvent):
            raise RuntimeError(f"{backend.name}: {event.message}")
        if isinstance(event, Done):
            tokens = event.output_tokens or 0
    return time.perf_counter() - start, tokens


async def _measure(a: Backend, b: Backend, max_tokens: int, prompts: tuple[str, ...]) -> dict[str, Any]:
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    # Kernels chosen and caches set up, alone and in a pair, before anything is timed.
    await _one(a, "warm up", params)
    await _one(b, "warm up", params)
    await asyncio.gather(_one(a, "warm up", params), _one(b, "warm up", params))
    singles_a, singles_b, pairs, tokens = [], [], [], []
    for prompt in prompts:
        (seconds_a, n), (seconds_b, _) = await _one(a, prompt, params), await _one(b, prompt, params)
        singles_a.append(seconds_a)
        singles_b.append(seconds_b)
        tokens.append(n / seconds_a)
        start = time.perf_counter()
        await asyncio.gather(_one(a, prompt, params), _one(b, prompt, params))
        pairs.append(time.perf_counter() - start)
    slower = [max(x, y) for x, y in zip(singles_a, singles_b, strict=True)]
    return {
        "fanout_ratio": round(sum(pairs) / sum(slower), 3),
        "fanout_ratio_median": round(statistics.median(p / s for p, s in zip(pairs, slower, strict=True)), 3),
        "tokens_per_s": round(sum(tokens) / len(tokens), 1),
        "per_prompt": [{"a": round(x, 2), "b": round(y, 2), "pair": round(p, 2)}
                       for x, y, p in zip(singles_a, singles_b, pairs, strict=True)],
    }


def _model(name: str, mode: str, batching: bool, device: str) -> TransformersModel:
    """``mode``: ``worker`` or ``app`` (the config's ``process``), ``+graphs`` for CUDA graphs."""
    process, _, option = mode.partition("+")
    return TransformersModel.model_validate({
        "name": name, "backend": "transformers", "path": "unused", "device": device, "dtype": "bfloat16",
        "context_window": WINDOW, "process": process, "batching": batching,
        "cuda_graphs": True if option == "graphs" else None})


async def bench_duel_gpu(
    tokenizer: Path = DEFAULT_TOKENIZER, max_tokens: int = 128, batching: bool = True,
    modes: tuple[str, ...] = ("worker", "app"), device: str = "cuda", shape: dict[str, int] = FOUR_B_SHAPE,
    prompts: tuple[str, ...] = PROMPTS,
) -> dict[str, Any]:
    """``device``, ``shape`` and fewer ``prompts`` than the GPU run's are for checking this code
    on a CPU."""
    import torch

    if device == "cuda":
        reason = cuda_unavailable()
        if reason is not None:
            return {"device": "cuda", "cuda": None, "reason": reason}
    result: dict[str, Any] = {"device": device, "cuda": torch.cuda.get_device_name(0) if device == "cuda" else None,
                              "shape": shape, "dtype": "bfloat16", "max_tokens": max_tokens, "prompts": len(prompts)}
    with tempfile.TemporaryDirectory(prefix="playground-duel-gpu-") as tmp:
        path = shaped_checkpoint(tokenizer, Path(tmp) / "shaped", shape)
        for mode in modes:
            started = time.perf_counter()
            a: Backend
            b: Backend
            if mode.startswith("worker"):
                a = WorkerTransformersBackend(_model("gpu-a", mode, batching, device), path, random_weights=True)
                b = WorkerTransformersBackend(_model("gpu-b", mode, batching, device), path, random_weights=True)
            else:
                a = TransformersBackend(_model("gpu-a", mode, batching, device), path, random_weights=True)
                b = TransformersBackend(_model("gpu-b", mode, batching, device), path, random_weights=True)
            try:
                await asyncio.gather(a.load(), b.load())
                result[f"load_s_{mode}"] = round(time.perf_counter() - started, 1)
                found = await _measure(a, b, max_tokens, prompts)
                if isinstance(a, TransformersBackend):
                    found["batching_off"] = a.batching_off  # why not, when it could not batch
            except Exception as exc:  # one mode failing still reports the other
                result[f"error_{mode}"] = f"{type(exc).__name__}: {exc}"[:500]
                continue
            finally:
                await a.close()
                await b.close()
                del a, b
                if device == "cuda":
                    torch.cuda.empty_cache()
            result.update({f"{key}_{mode}": value for key, value in found.items()})
            print(json.dumps({mode: found}), file=sys.stderr, flush=True)  # a run cut short keeps this
    return result


def _main(argv: list[str]) -> int:
    """``[max_tokens [modes]]``, modes comma-separated (``worker,app``; ``worker+graphs``: workers
    with CUDA graphs captured for decoding)."""
    max_tokens = int(argv[0]) if argv else 128
    modes = tuple(argv[1].split(",")) if len(argv) > 1 else ("worker", "app")
    print(json.dumps(asyncio.run(bench_duel_gpu(max_tokens=max_tokens, modes=modes))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
