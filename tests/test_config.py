"""Config validation: good files load, bad ones name the file, the field and the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core.config import ConfigError, check_local_paths, load_config

from .paths import PROJECT_ROOT

GOOD = """
models:
  - name: served
    backend: openai
    base_url: http://127.0.0.1:8000/v1
    model: Qwen/Qwen3-4B-Instruct-2507
    api_key_env: MY_KEY
    defaults: {temperature: 0.7, max_tokens: 256, chat_template_kwargs: {enable_thinking: false}}
  - name: local
    backend: transformers
    path: ckpt
    device: cpu
    dtype: bfloat16
arena: {model_a: served, model_b: local}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "playground.yaml"
    path.write_text(text)
    return path


def test_good_config_loads_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    config = load_config(write(tmp_path, GOOD))
    served = config.model("served")
    assert served.backend == "openai"
    assert served.api_key() == "sk-test"
    assert served.defaults.chat_template_kwargs == {"enable_thinking": False}
    local = config.model("local")
    assert local.backend == "transformers" and local.dtype == "bfloat16"
    assert local.context_window == 4096  # the default
    assert config.arena.blind is True  # blind unless said otherwise


@pytest.mark.parametrize("name", ["playground.yaml", "playground.demo.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(PROJECT_ROOT / name)
    assert {config.arena.model_a, config.arena.model_b} <= {m.name for m in config.models}


def test_shipped_default_names_real_models() -> None:
    config = load_config(PROJECT_ROOT / "playground.yaml")
    served = [m for m in config.models if m.backend == "openai"]
    assert served[0].model == "Qwen/Qwen3-4B-Instruct-2507"
    assert served[0].base_url == "http://localhost:8000/v1"
    assert any(m.backend == "transformers" for m in config.models)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    model: Qwen/Qwen3-4B-Instruct-2507\n", "", "models[0].model: Field required"),
        ("    path: ckpt\n", "", "models[1].path: Field required"),
        ("backend: transformers", "backend: tensorrt", "models[1]: Input tag 'tensorrt'"),
        ("dtype: bfloat16", "dtype: float8", "models[1].dtype: Input should be"),
        ("temperature: 0.7", "temperature: 9", "models[0].defaults.temperature: Input should be less"),
        ("http://127.0.0.1:8000/v1", "127.0.0.1:8000", "models[0].base_url: String should match"),
        ("model_b: local", "model_b: nowhere", "no model named 'nowhere'"),
        ("device: cpu", "device: cpu\n    colour: red", "models[1].colour: Extra inputs are not permitted"),
        ("arena:", "judge: {model: oracle}\narena:", "judge.model: no model named 'oracle'"),
        ("arena:", "judge: {model: served, max_tokens: 0}\narena:", "judge.max_tokens: Input should be greater"),
        ("model_b: local}", "model_b: local, queue_overlap: 0}", "arena.queue_overlap: Input should be greater"),
    ],
)
def test_errors_name_file_field_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_duplicate_model_names_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: local", "name: served"))
    with pytest.raises(ConfigError, match="repeated: served"):
        load_config(path)


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "models: [\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- just a list\n"))


def test_missing_transformers_checkpoint_names_the_field(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        check_local_paths(config)
    assert "models[1].path" in str(info.value)
    assert str(tmp_path / "ckpt") in str(info.value)  # relative to the config's folder


def test_a_missing_tokenizer_folder_names_the_field(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace("    api_key_env: MY_KEY\n",
                                                      "    api_key_env: MY_KEY\n    tokenizer: tok\n")))
    with pytest.raises(ConfigError, match=r"models\[0\]\.tokenizer: no tokenizer at .*tok"):
        check_local_paths(config, ["served"])
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    check_local_paths(config, ["served"])  # found: nothing to say


def test_app_refuses_to_start_with_a_missing_checkpoint(tmp_path: Path) -> None:
    """The Chainlit app stops at startup, naming the field, instead of failing at the first prompt."""
    path = write(tmp_path, GOOD)
    env = dict(os.environ, PLAYGROUND_CONFIG=str(path))
    result = subprocess.run(
        [sys.executable, "-c", "import chainlit_app"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "models[1].path" in result.stderr
    assert "no checkpoint at" in result.stderr


def test_check_config_command(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("model_b: local", "model_b: nowhere"))
    result = subprocess.run(
        [sys.executable, "-m", "playground.cli", "check-config", str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "no model named 'nowhere'" in result.stderr
