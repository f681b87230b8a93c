"""Bring up the demo backends: the demo checkpoints, and a vLLM-CPU server serving one of them.

Used by ``playground up --demo`` and the benchmarks. It starts only what is not already running
and stops only what it started.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import yaml
from rich.console import Console

from playground.core.config import OpenAIModel, PlaygroundConfig, load_config
from playground.core.locations import app_files, checkout_root, work_dir
from playground.devtools.demo_models import build_demo_models
from playground.devtools.vllm_server import VLLMServer, is_healthy

SHIPPED_DEMO_CONFIG = app_files() / "playground.demo.yaml"


def demo_models_dir() -> Path:
    """playground.demo.yaml names its checkpoints relative to its own folder: in a checkout they
    are built beside it; an installed playground builds them in the work folder."""
    return (checkout_root() or work_dir()) / ".demo-models"


def demo_config_path() -> Path:
    """The demo config; for an installed playground a copy whose checkpoint paths point into the
    work folder (the shipped file sits in site-packages)."""
    if checkout_root() is not None:
        return SHIPPED_DEMO_CONFIG
    data = yaml.safe_load(SHIPPED_DEMO_CONFIG.read_text(encoding="utf-8"))
    for model in data["models"]:
        if model.get("backend") == "transformers":
            model["path"] = str(demo_models_dir() / Path(model["path"]).name)
    target = demo_models_dir() / "playground.demo.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def demo_vllm_model(config: PlaygroundConfig) -> OpenAIModel:
    for model in config.models:
        if isinstance(model, OpenAIModel):
            return model
    raise ValueError(f"{config.source}: the demo config has no openai model")


@contextlib.contextmanager
def demo_backends(
    console: Console | None = None, config_path: Path | None = None
) -> Iterator[PlaygroundConfig]:
    console = console or Console(stderr=True)
    models_dir = demo_models_dir()
    build_demo_models(models_dir)
    config = load_config(config_path or demo_config_path())
    served = demo_vllm_model(config)
    server: VLLMServer | None = None
    if not is_healthy(served.base_url):
        port = urlparse(served.base_url).port or 80
        log_path = models_dir / f"vllm-{port}.log"
        console.print(
            f"[bold]Starting vLLM (CPU)[/] for {served.model} on {served.base_url} "
            f"(about a minute; log: {log_path})"
        )
        server = VLLMServer(
            model_dir=models_dir / served.model,
            served_name=served.model,
            port=port,
            log_path=log_path,
        )
        server.start()
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
    try:
        yield config
    finally:
        if server is not None:
            server.stop()
