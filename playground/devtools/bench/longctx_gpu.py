"""``playground bench longctx --device cuda``: a long document on a GPU, through the app's own
local backend, against the model called directly.

A random-weight model of Qwen3-4B's shape (hidden 2560, 36 layers, 32 heads, 8 KV heads, head_dim
128, intermediate 9728, vocabulary 151,936, bfloat16, SDPA attention) is built in GPU memory
(nothing is downloaded) and served by :class:`TransformersBackend`, the backend the app runs a
local model with, with the demo checkpoint's tokenizer (``--tokenizer``, default
``.demo-models/demo-b``: its ids all lie inside the big vocabulary). For each length of
``CUDA_LENGTHS`` (32K, 128K, 256K tokens) one user message of that many tokens (a generated
haystack and a question, chat template included; ``prompt_tokens_<len>`` is the exact count) is:

* streamed through the backend with ``max_tokens`` 1: ``ttft_s_<len>`` is the time from the call
  to the first event (chat template, tokenizing, the prefill, the first token, the streamer's
  hand-over to the event loop); ``peak_gib_<len>`` is torch's peak allocation meanwhile (the
  weights and the KV cache included);
* run straight through the model's forward with the same token ids (``logits_to_keep=1``, as
  generate asks for the first token): ``direct_ttft_s_<len>``; ``ttft_overhead_ratio_<len>`` is
  the first over the second.

A 1,024-token warm-up of each comes first (kernels chosen, cuBLAS started). A length that does not
fit says ``error_<len>: out of memory``. Without a CUDA device the result is ``{"device": "cuda",
"cuda": null, "reason": ...}`` and the command exits 0, so CI (which has no GPU) runs the same
command and reads that it measured nothing.

This module needs only torch, transformers and pydantic (not the database nor the web stack), so
it also runs as ``python -m playground.devtools.bench.longctx_gpu`` on a GPU machine that has
little else installed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playground.backends.local_transformers import TransformersBackend
from playground.core.config import TransformersModel
from playground.core.events import ChatMessage, Done, ErrorEvent, SamplingParams

FOUR_B_SHAPE: dict[str, int] = {
    "hidden_size": 2560,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 9728,
    "vocab_size": 151_936,
}
CUDA_LENGTHS = (32_768, 131_072, 262_144)
WARM_UP_TOKENS = 1_024
DEFAULT_TOKENIZER = Path(".demo-models/demo-b")
QUESTION = "\n\nWhat is the vault code?"
# Sentences of the haystack: any text will do; the model's weights are random.
FILLER = ("The committee met on a grey morning to review the quarterly figures. "
          "Shipping costs rose while the harbour was closed for repairs. ")


def cuda_unavailable() -> str | None:
    """Why the GPU figures cannot be measured here, or None when they can."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA"
        return f"no CUDA device (torch {torch.__version__}, built with {built}: torch.cuda.is_available() is False)"
    return None


@contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def random_model(shape: dict[str, int], max_tokens: int, device: str, dtype: str = "bfloat16") -> Any:
    """A Qwen3 causal LM of ``shape`` with random weights, built straight on ``device``: no
    download, and no float32 copy of 4B parameters on the way."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    options: dict[str, Any] = {**shape, "max_position_embeddings": max_tokens, "tie_word_embeddings": True}
    config = Qwen3Config(**options)
    # SDPA with is_causal picks a flash or memory-efficient kernel: the eager path would build a
    # 256K x 256K score matrix.
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with _default_dtype(getattr(torch, dtype)), torch.device(device):
        model: Any = Qwen3ForCausalLM(config)
    return model.eval()


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated() / (1 << 30), 2)


async def prompt_of(backend: TransformersBackend, tokens: int) -> list[ChatMessage]:
    """One user message whose chat-templated prompt is ``tokens`` tokens (to within a few: the
    exact count is what the backend reports)."""
    empty: list[ChatMessage] = [{"role": "user", "content": QUESTION}]
    params = SamplingParams(max_tokens=1)
    room = tokens - await backend.count_prompt(empty, params)
    unit = await backend.encode(FILLER)
    ids = (unit * (room // max(len(unit), 1) + 2))[:max(room, 0)]
    text = await backend.decode(ids)
    messages: list[ChatMessage] = [{"role": "user", "content": text + QUESTION}]
    for _ in range(3):  # decode/encode round trips can merge a token or two: trim to the length
        over = await backend.count_prompt(messages, params) - tokens
        if over <= 0:
            break
        ids = ids[:len(ids) - over]
        messages = [{"role": "user", "content": await backend.decode(ids) + QUESTION}]
    return messages


async def _through_backend(backend: TransformersBackend, messages: list[ChatMessage], device: str) -> dict[str, Any]:
    _reset_peak(device)
    start = time.perf_counter()
    first: float | None = None
    done: Done | None = None
    async for event in backend.stream(messages, SamplingParams(temperature=0.0, max_tokens=1)):
        if first is None:
            first = time.perf_counter()
        if isinstance(event, ErrorEvent):
            return {"error": event.message}
        if isinstance(event, Done):
            done = event
    assert first is not None and done is not None
    result: dict[str, Any] = {"ttft_s": round(first - start, 3), "prompt_tokens": done.prompt_tokens}
    peak = _peak_gib(device)
    if peak is not None:
        result["peak_gib"] = peak
    return result


def _direct(model: Any, ids: list[int], device: str) -> dict[str, Any]:
    """The model alone: one forward over the prompt's ids, the first token picked."""
    import torch

    tensor = torch.tensor([ids], device=device)
    _reset_peak(device)
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            # logits_to_keep=1: only the last position's logits, as generate() asks for the first
            # token (all 256K positions would be 78 GB of logits). The cache is kept, as generate does.
            out = model(input_ids=tensor, use_cache=True, logits_to_keep=1)
            int(out.logits[0, -1].argmax())  # a host copy: waits for the GPU to finish
    except torch.cuda.OutOfMemoryError as exc:
        return {"error": f"out of memory: {str(exc).splitlines()[0]}"}
    ttft = time.perf_counter() - start
    del out
    result: dict[str, Any] = {"direct_ttft_s": round(ttft, 3), "prefill_tokens_per_s": round(len(ids) / ttft)}
    peak = _peak_gib(device)
    if peak is not None:
        result["direct_peak_gib"] = peak
    return result


async def _one_length(
    backend: TransformersBackend, model: Any, tokenizer: Any, length: int, device: str
) -> dict[str, Any]:
    import torch

    messages = await prompt_of(backend, length)
    ids = [int(i) for i in tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                         return_dict=True)["input_ids"]]
    try:
        app = await _through_backend(backend, messages, device)
    except torch.cuda.OutOfMemoryError as exc:
        app = {"error": f"out of memory: {str(exc).splitlines()[0]}"}
    gc.collect()
    direct = _direct(model, ids, device)
    figures = {**app, **direct}
    if "ttft_s" in app and "direct_ttft_s" in direct:
        figures["ttft_overhead_ratio"] = round(app["ttft_s"] / direct["direct_ttft_s"], 3)
    return figures


async def bench_longctx_gpu(
    lengths: tuple[int, ...] = CUDA_LENGTHS, shape: dict[str, int] | None = None, device: str = "cuda",
    tokenizer: Path = DEFAULT_TOKENIZER,
) -> dict[str, Any]:
    """The figures of the module's docstring; ``"cuda": None`` (with the reason) where there is no
    CUDA device. ``device="cpu"`` with a tiny ``shape`` runs the same code on a machine without a
    GPU (to check it, not to measure)."""
    if device.startswith("cuda"):
        reason = cuda_unavailable()
        if reason is not None:
            return {"device": "cuda", "cuda": None, "reason": reason}
    import torch

    shape = shape or FOUR_B_SHAPE
    window = max(lengths) + 64
    entry = TransformersModel(name="random-4b-shape", backend="transformers", path=str(tokenizer),
                              device="cuda" if device.startswith("cuda") else "cpu", dtype="bfloat16",
                              context_window=window)
    backend = TransformersBackend(entry, tokenizer)
    built = time.perf_counter()
    model = random_model(shape, window, device)
    tokenizer_object = backend.serve_built(model)
    figures: dict[str, Any] = {
        "model": "Qwen3 causal LM, random bfloat16 weights: " + ", ".join(f"{k} {v}" for k, v in shape.items()),
        "params_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 2),
        "build_s": round(time.perf_counter() - built, 1),
        "torch": torch.__version__,
    }
    if device.startswith("cuda"):
        figures["gpu"] = torch.cuda.get_device_name(device)
        figures["weights_gib"] = round(torch.cuda.memory_allocated(device) / (1 << 30), 2)
    # A warm-up, not reported: kernels chosen and cuBLAS started once, not in the first figure.
    await _one_length(backend, model, tokenizer_object, min(WARM_UP_TOKENS, min(lengths)), device)
    for length in lengths:
        tag = f"{length // 1024}k" if length % 1024 == 0 else str(length)
        for key, value in (await _one_length(backend, model, tokenizer_object, length, device)).items():
            figures[f"{key}_{tag}"] = value
        gc.collect()
    return {"device": device, "cuda": figures}


def _main(argv: list[str]) -> int:
    """``python -m playground.devtools.bench.longctx_gpu [LENGTH ...]``: print the JSON figures."""
    lengths = tuple(int(a) for a in argv) or CUDA_LENGTHS
    print(json.dumps(asyncio.run(bench_longctx_gpu(lengths))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
