"""`playground bench longctx`, as a user runs it: its figures on a small document against the
session's vLLM server and local model, and `--device cuda` on a machine without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.devtools.vllm_server import VLLMServer

from .conftest import local_model_entry, vllm_model_entry, write_config
from .paths import PROJECT_ROOT


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playground.cli", "bench", "longctx", "--json", *args], text=True,
        capture_output=True, cwd=PROJECT_ROOT, env=dict(os.environ), timeout=400,
    )


def test_longctx_measures_both_sides_on_a_document_cut_to_the_window(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "longctx.yaml",
                          [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir)],
                          "vllm-demo", "local-demo", blind=False)
    done = bench("--config", str(config), "--tokens", "30000", "--prepare-runs", "1", "--runs", "1")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert 0 < figures["prepare_256k_s"] < 60 and figures["device"] == "cpu"
    sides = ("openai", "transformers")
    for side in sides:
        # Counted by each side's own tokenizer (the demo models share one), then cut to the 2,048-token window.
        assert 27_000 <= figures["document_tokens"][side] <= 33_000
        assert 0 < figures["kept_document_tokens"][side] < 2048
        assert figures[f"ttft_app_ms_{side}"] > 0 and figures[f"ttft_direct_ms_{side}"] > 0
    assert figures["ttft_overhead_ratio"] == max(figures[f"ttft_overhead_ratio_{side}"] for side in sides)
    # Every TTFT run had a document of its own: the server's prefix cache served none of it.
    assert figures.get("cached_tokens_max_openai", 0) < 100
    assert figures["peak_rss_mb_per_mb_document"] >= 0 and figures["rss_method"] in ("clear_refs", "warm-up peak")


def test_longctx_on_cuda_without_a_gpu_says_so_and_exits_0() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the GPU benchmark itself would run")
    done = bench("--device", "cuda")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"device", "cuda", "reason"} and result["cuda"] is None
    assert "no CUDA device" in result["reason"] and "no CUDA device" in done.stderr


async def test_the_gpu_benchmark_runs_its_code_on_the_cpu_with_a_tiny_model(demo_models_dir: Path) -> None:
    """The same code as on a GPU (the app's local backend, then the model directly), on a model of
    a tiny shape, so that a GPU session finds it working: figures, not speed."""
    from playground.devtools.bench.longctx_gpu import bench_longctx_gpu

    shape = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "head_dim": 16, "intermediate_size": 128, "vocab_size": 151_936}
    result = await bench_longctx_gpu((600, 1500), shape=shape, device="cpu", tokenizer=demo_models_dir / "demo-b")
    figures = result["cuda"]
    assert result["device"] == "cpu" and figures["params_b"] < 0.05
    for tag, length in (("600", 600), ("1500", 1500)):
        assert "error_" + tag not in figures, figures
        # The prompt is built to the length with the model's own tokenizer, chat template included.
        assert length - 8 <= figures[f"prompt_tokens_{tag}"] <= length
        assert figures[f"ttft_s_{tag}"] > 0 and figures[f"direct_ttft_s_{tag}"] > 0
        ratio = figures[f"ttft_s_{tag}"] / figures[f"direct_ttft_s_{tag}"]
        assert figures[f"ttft_overhead_ratio_{tag}"] == round(ratio, 3)
