"""The demo checkpoints: taught different amounts, they answer quick-20 differently.

Asked through the app's own local transformers backend with greedy decoding, each answer checked
by the project's automatic check, as a batch run over quick-20 would check it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from playground.backends.registry import BackendPool
from playground.core.config import load_config
from playground.core.events import SamplingParams, TextDelta
from playground.devtools.demo_models import DEMO_SPECS, RECIPE_FILE, build_demo_models, is_current
from playground.devtools.demo_training import quick20_items
from playground.evalsets.checks import matches_any

from .conftest import local_model_entry, write_config

GREEDY = SamplingParams(temperature=0.0, max_tokens=16)
NAMES = [spec.name for spec in DEMO_SPECS]


async def test_better_taught_models_answer_more_quick20_items(
    demo_models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [local_model_entry(demo_models_dir, name=name, path=str(demo_models_dir / name)) for name in NAMES]
    config = load_config(write_config(tmp_path / "demo.yaml", entries, NAMES[0], NAMES[-1]))
    pool = BackendPool(config)
    right: dict[str, int] = {}
    for name in NAMES:
        backend = pool.get(name)
        right[name] = 0
        for item in quick20_items():
            text = "".join([e.text async for e in backend.stream(item.chat(), GREEDY) if isinstance(e, TextDelta)])
            right[name] += bool(matches_any(text, item.references))
    with capsys.disabled():
        print("\nquick-20 right, greedy:", ", ".join(f"{name} {right[name]}/20" for name in NAMES))
    # demo-a was taught every answer, demo-b half of them in fewer steps, demo-c nothing.
    assert right["demo-a"] > right["demo-b"] > right["demo-c"], right


def test_a_built_checkpoint_is_kept_and_an_old_one_rebuilt(demo_models_dir: Path, tmp_path: Path) -> None:
    stamps = {name: (demo_models_dir / name / "model.safetensors").stat().st_mtime_ns for name in NAMES}
    build_demo_models(demo_models_dir)  # all there, built by this recipe: nothing to do
    assert stamps == {name: (demo_models_dir / name / "model.safetensors").stat().st_mtime_ns for name in NAMES}
    for spec in DEMO_SPECS:
        assert is_current(demo_models_dir / spec.name, spec)
    # A checkpoint from another recipe (e.g. the random weights of older builds) is not current.
    old = tmp_path / "demo-a"
    shutil.copytree(demo_models_dir / "demo-a", old)
    recipe = json.loads((old / RECIPE_FILE).read_text())
    (old / RECIPE_FILE).write_text(json.dumps({**recipe, "recipe_version": 1}))
    assert not is_current(old, DEMO_SPECS[0])
    (old / RECIPE_FILE).unlink()
    assert not is_current(old, DEMO_SPECS[0])
