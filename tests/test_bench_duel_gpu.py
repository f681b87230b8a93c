"""``bench duel --device cuda``'s code, run on the CPU with a model of a tiny shape, so that a
session lent a GPU finds it working: figures, not speed. (Its app mode, two models loading at once
in one process, once failed in CI: the race of torch's default dtype that ``hf_import``'s build
lock now closes.)"""

from __future__ import annotations

from pathlib import Path

from playground.devtools.bench.duel_gpu import PROMPTS, bench_duel_gpu

TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "intermediate_size": 128, "vocab_size": 151_936}


async def test_the_gpu_duel_runs_its_modes_on_the_cpu_with_a_tiny_model(demo_models_dir: Path) -> None:
    # "worker" is "worker+graphs" less one option (the worker backend has tests of its own): the
    # two modes here load their models each way the benchmark does, in the app and in workers.
    modes = ("app", "worker+graphs")
    prompts = PROMPTS[:2]  # the code of each mode, not a figure: two prompts are enough
    result = await bench_duel_gpu(demo_models_dir / "demo-b", max_tokens=6, modes=modes, device="cpu", shape=TINY,
                                  prompts=prompts)
    assert result["device"] == "cpu" and result["prompts"] == len(prompts)
    for mode in modes:
        assert f"error_{mode}" not in result, result[f"error_{mode}"]  # the error alone: a log keeps it whole
        assert result[f"load_s_{mode}"] > 0
        # Each prompt alone on either model, then paired: all timed, the ratios from those times.
        per_prompt = result[f"per_prompt_{mode}"]
        assert len(per_prompt) == len(prompts) and all(min(p.values()) > 0 for p in per_prompt)
        slower = sum(max(p["a"], p["b"]) for p in per_prompt)
        paired = sum(p["pair"] for p in per_prompt)
        assert abs(result[f"fanout_ratio_{mode}"] - paired / slower) < 0.1  # the times are rounded to 10 ms
        assert result[f"tokens_per_s_{mode}"] > 0
