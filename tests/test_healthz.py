"""The replica's health (``GET /healthz``) and its name (``X-Playground-Replica``, log lines).

The checks themselves run against loopback servers that stand in for model servers (a real HTTP
server listing models, a dead port, a server that never answers) and real databases; then the
real app (``chainlit run chainlit_app.py``) is asked over HTTP. No model is loaded."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from playground.arena.health import HealthCheck
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, parse_config
from playground.core.replica import REPLICA_HEADER
from playground.store.database import Database
from playground.store.migrate import head_revision, upgrade

from .conftest import free_port
from .paths import PROJECT_ROOT

SERVED = "served-model"
WINDOW = 3072


class ModelServer:
    """A loopback stand-in for a model server: ``GET /v1/models`` lists one model with vLLM's
    ``max_model_len``; counts the requests; can be stopped to play a dead server."""

    def __init__(self) -> None:
        owner = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests += 1
                if self.path.rstrip("/") == "/v1/models":
                    body = json.dumps({"object": "list", "data": [
                        {"id": SERVED, "object": "model", "max_model_len": WINDOW}]}).encode()
                    self.send_response(200)
                else:
                    body = b'{"detail": "Not Found"}'
                    self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.stop()


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """Accepts connections and never answers."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    release.set()
    server.close()


def config_data(url_a: str, url_b: str, model_b: str = SERVED) -> dict:
    def entry(name: str, url: str, model: str) -> dict:
        return {"name": name, "backend": "openai", "base_url": url, "model": model, "context_window": 1024,
                "timeout_s": 30, "defaults": {"temperature": 0.0, "max_tokens": 16}}

    return {"models": [entry("left", url_a, SERVED), entry("right", url_b, model_b)],
            "arena": {"model_a": "left", "model_b": "right"}}


def config_of(url_a: str, url_b: str, model_b: str = SERVED) -> PlaygroundConfig:
    return parse_config(config_data(url_a, url_b, model_b), "health.yaml")


async def migrated(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    await upgrade(db)
    return db


async def test_a_dead_model_makes_it_degraded_not_down(tmp_path: Path, model_server: ModelServer) -> None:
    config = config_of(model_server.base_url, f"http://127.0.0.1:{free_port()}/v1")
    db = await migrated(tmp_path / "p.db")
    try:
        health = await HealthCheck(config, BackendPool(config), db).check("r1")
    finally:
        await db.dispose()
    found = health.as_json()
    assert (found["status"], health.http_status, found["replica"]) == ("degraded", 200, "r1")
    assert found["database"] == {"ok": True, "revision": head_revision(), "head": head_revision(), "at_head": True}
    assert found["models"]["left"] == {"ok": True, "context_window": WINDOW, "window_source": "server"}
    right = found["models"]["right"]
    assert (right["ok"], right["context_window"], right["window_source"]) == (False, 1024, "config")
    assert "cannot reach" in right["error"] and "/v1/models" in right["error"]


async def test_all_well_is_ok_and_a_model_the_server_does_not_serve_is_named(
    tmp_path: Path, model_server: ModelServer
) -> None:
    db = await migrated(tmp_path / "p.db")
    try:
        config = config_of(model_server.base_url, model_server.base_url)
        assert (await HealthCheck(config, BackendPool(config), db).check("r")).status == "ok"
        config = config_of(model_server.base_url, model_server.base_url, model_b="no-such-model")
        health = await HealthCheck(config, BackendPool(config), db).check("r")
    finally:
        await db.dispose()
    assert health.status == "degraded"
    assert "does not serve 'no-such-model'" in (health.models["right"].error or "")
    assert SERVED in (health.models["right"].error or "")


async def test_a_server_that_never_answers_is_reported_within_the_timeout(
    tmp_path: Path, model_server: ModelServer, silent_url: str
) -> None:
    config = config_of(model_server.base_url, silent_url)
    db = await migrated(tmp_path / "p.db")
    try:
        started = time.perf_counter()
        health = await HealthCheck(config, BackendPool(config), db, timeout_s=0.5).check("r")
        elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    assert elapsed < 2.0  # both models checked at once, each within its timeout
    assert health.models["left"].ok and not health.models["right"].ok
    assert "timed out" in (health.models["right"].error or "")


async def test_model_checks_are_cached_and_shared_by_concurrent_polls(
    tmp_path: Path, model_server: ModelServer
) -> None:
    config = config_of(model_server.base_url, model_server.base_url)
    db = await migrated(tmp_path / "p.db")
    now = [100.0]
    check = HealthCheck(config, BackendPool(config), db, cache_s=5.0, clock=lambda: now[0])
    try:
        await asyncio.gather(*(check.check("r") for _ in range(10)))
        first = model_server.requests
        # Two models on one server: one /v1/models probe each, plus each backend's own window
        # lookup (which it caches for a minute) -- and nothing more for the ten polls.
        assert first <= 4
        for _ in range(5):
            now[0] += 1.0 if _ < 4 else 0.5
            await check.check("r")
        assert model_server.requests == first  # 4.5 s later: still the cached answer
        now[0] += 1.0
        await check.check("r")
        assert model_server.requests == first + 2  # then one probe per model again
    finally:
        await db.dispose()


async def test_a_database_not_at_head_or_unreachable_is_down(tmp_path: Path, model_server: ModelServer) -> None:
    config = config_of(model_server.base_url, model_server.base_url)
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    unreachable = Database(f"postgresql://nobody:secret-pw@127.0.0.1:{free_port()}/nothing")
    try:
        not_migrated = await HealthCheck(config, BackendPool(config), empty).check("r")
        gone = await HealthCheck(config, BackendPool(config), unreachable).check("r")
    finally:
        await empty.dispose()
        await unreachable.dispose()
    assert (not_migrated.status, not_migrated.http_status) == ("down", 503)
    assert not_migrated.as_json()["database"] == {
        "ok": True, "revision": None, "head": head_revision(), "at_head": False,
        "error": f"at revision none (empty), this playground needs {head_revision()}: run `playground db upgrade`"}
    assert (gone.status, gone.http_status) == ("down", 503)
    database = gone.as_json()["database"]
    assert (database["ok"], database["at_head"], database["revision"]) == (False, False, None)
    assert database["error"] and "secret-pw" not in database["error"]


# --- the real app -----------------------------------------------------------------------------

class App:
    def __init__(self, config: Path, db_url: str, log: Path, replica: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(os.environ, PLAYGROUND_CONFIG=str(config), HF_HUB_OFFLINE="1", PLAYGROUND_DATABASE_URL=db_url,
                   CHAINLIT_AUTH_SECRET="test-secret-" + "x" * 40, PLAYGROUND_REPLICA=replica)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chainlit", "run", "chainlit_app.py", "--headless",
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("chainlit did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_the_app_serves_healthz_and_names_its_replica_on_every_response(
    tmp_path: Path, model_server: ModelServer
) -> None:
    config_path = tmp_path / "app.yaml"
    config_path.write_text(json.dumps(config_data(model_server.base_url, model_server.base_url)))
    db_path = tmp_path / "app.db"
    asyncio.run(_migrate(db_path))
    app = App(config_path, f"sqlite:///{db_path}", tmp_path / "app.log", "replica-7")
    try:
        app.wait_ready()
        answer = httpx.get(f"{app.url}/healthz", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"  # not the single-page app
        found = answer.json()
        assert (found["status"], found["replica"]) == ("ok", "replica-7")
        assert found["database"]["at_head"] is True
        assert found["models"] == {name: {"ok": True, "context_window": WINDOW, "window_source": "server"}
                                   for name in ("left", "right")}
        # Every HTTP response says which replica sent it: pages, API, socket.io's polling, errors.
        for path in ("/healthz", "/", "/health", "/project/settings", "/ws/socket.io/?EIO=4&transport=polling",
                     "/no/such/page"):
            response = httpx.get(f"{app.url}{path}", timeout=10)
            assert response.headers.get(REPLICA_HEADER) == "replica-7", (path, response.status_code)
        assert httpx.head(f"{app.url}/healthz", timeout=10).status_code == 200
        # The event loop's lag is sampled from the start and reported (since a time, or bad input named).
        recent = httpx.get(f"{app.url}/healthz", params={"lag_since": time.time() - 30}, timeout=10).json()
        lag = recent["loop_lag"]
        assert lag["samples"] > 10 and 0 <= lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"], lag
        # What the app made at startup is frozen out of the collector's sight (its full
        # collections stay short), and its collections are timed.
        assert recent["gc"]["frozen_objects"] > 100_000, recent["gc"]
        assert recent["gc"]["gen0"]["collections"] > 0, recent["gc"]
        # The loop's timer heap is swept (chainlit run's nest_asyncio loop keeps cancelled timers),
        # and whether its tasks are asyncio's C ones is said (nest_asyncio's are pure Python).
        loop = recent["event_loop"]
        assert loop["scheduled_timers"] >= 1 and loop["cancelled_timers_dropped"] >= 0, loop
        assert loop["c_tasks"] is False, loop
        refused = httpx.get(f"{app.url}/healthz", params={"lag_since": "soon"}, timeout=10).json()["loop_lag"]
        assert "number" in refused["error"]

        model_server.stop()  # the model server goes away: degraded, but still in the proxy's pool
        time.sleep(5.2)  # the model checks' cache
        answer = httpx.get(f"{app.url}/healthz", timeout=10)
        assert (answer.status_code, answer.json()["status"]) == (200, "degraded")
        assert not answer.json()["models"]["left"]["ok"]

        with sqlite3.connect(db_path) as conn:  # the database moved on without this code: down
            conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        answer = httpx.get(f"{app.url}/healthz", timeout=10)
        assert (answer.status_code, answer.json()["status"]) == (503, "down")
        assert answer.json()["database"]["revision"] == "ffffffffffff"
        assert answer.headers[REPLICA_HEADER] == "replica-7"
    finally:
        app.stop()
    lines = app.log.read_text(errors="replace").splitlines()
    assert any(" - replica-7 - " in line and "Your app is available" in line for line in lines), lines[-20:]


def test_an_unusable_replica_name_stops_the_app_saying_why(tmp_path: Path, model_server: ModelServer) -> None:
    config_path = tmp_path / "app.yaml"
    config_path.write_text(json.dumps(config_data(model_server.base_url, model_server.base_url)))
    app = App(config_path, f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "app.log", "two words")
    assert app.process.wait(timeout=120) != 0
    assert "PLAYGROUND_REPLICA" in app.log.read_text() and "'two words'" in app.log.read_text()


async def _migrate(path: Path) -> None:
    db = await migrated(path)
    await db.dispose()


def test_up_passes_the_replica_name_to_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.cli import main

    started: list[dict[str, str]] = []
    monkeypatch.setattr(main.subprocess, "run", lambda command, cwd, env, check: started.append(env))
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", f"sqlite:///{tmp_path / 'up.db'}")
    monkeypatch.setenv("PLAYGROUND_REPLICA", "from-the-environment")
    runner = CliRunner()
    assert runner.invoke(main.app, ["up", "--replica-name", "web-2"]).exit_code == 0
    assert runner.invoke(main.app, ["up"]).exit_code == 0
    assert [env["PLAYGROUND_REPLICA"] for env in started] == ["web-2", "from-the-environment"]
    refused = runner.invoke(main.app, ["up", "--replica-name", "bad\nname"])
    assert refused.exit_code == 2 and len(started) == 2
