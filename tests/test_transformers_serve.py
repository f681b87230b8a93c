"""The local model as a shared service: ``transformers serve`` (transformers' own OpenAI-compatible
server, with continuous batching) on loopback with the demo-b checkpoint on the CPU, and the app's
OpenAI backend streaming from it. The duel tests that run against vLLM run against it too.

A local checkpoint is addressed by its path: the server lists it in ``/v1/models`` under the path
it was started with, and a request must name the same path as its ``model``. The server has no
``/tokenize`` and reports no ``max_model_len``: prompts are counted with the ``tokenizer:`` folder
of the config (the checkpoint itself) and the window is the config's.

Needs ``accelerate`` (``transformers serve`` always loads with a device map)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from playground.arena.duel import Duel, TurnSettings
from playground.arena.health import model_health
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.backends.base import ContextWindow, TokenCountUnavailable
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, load_config
from playground.core.events import ChatMessage, Done, ErrorEvent, ReasoningDelta, SamplingParams, TextDelta
from playground.evalsets.haystack import render_haystack
from playground.store.database import Database
from playground.store.documents import DocumentText
from playground.store.migrate import upgrade
from playground.store.raters import add_rater
from playground.store.tables import Response

from .conftest import free_port, local_model_entry, write_config
from .sockets import connections_to

pytestmark = pytest.mark.serve
HELLO: list[ChatMessage] = [{"role": "user", "content": "What is the capital of France?"}]
CHAT: list[ChatMessage] = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "Calculate 15 + 27 and 8 x 7.\n中国的首都是北京。"},
]
GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
WINDOW = 2048
MAX_TOKENS = 48


@dataclass
class TransformersServe:
    model_dir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        """The name requests give: the checkpoint path, as the server was started with it."""
        return str(self.model_dir)

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "transformers"), "serve", self.model, "--host", self.host,
                   "--port", str(self.port), "--device", "cpu", "--dtype", "float32", "--continuous-batching"]
        # One thread: the in-process local model of a duel computes on the machine's other core.
        env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
        self.process = subprocess.Popen(command, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                if httpx.get(f"http://{self.host}:{self.port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("transformers serve did not start:\n" + self.tail())
        # The first request sets up the paged cache (seconds): done here, not inside a timed test.
        warm = httpx.post(f"{self.base_url}/chat/completions", timeout=120, json={
            "model": self.model, "messages": HELLO, "max_tokens": 2, "temperature": 0.0})
        assert warm.status_code == 200, warm.text

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="session")
def serve(demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TransformersServe]:
    server = TransformersServe(demo_models_dir / "demo-b", free_port(), tmp_path_factory.mktemp("serve") / "serve.log")
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def serve_entry(server: TransformersServe, name: str = "serve-demo", **overrides: object) -> dict:
    entry = {
        "name": name,
        "backend": "openai",
        "base_url": server.base_url,
        "model": server.model,
        "tokenizer": str(server.model_dir),  # no /tokenize on this server: count with the checkpoint's own
        "context_window": WINDOW,
        "timeout_s": 30,
        "defaults": {"temperature": 0.0, "max_tokens": MAX_TOKENS},
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.fixture(scope="module")
def serve_config(serve: TransformersServe, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> PlaygroundConfig:
    """transformers serve on one side, the in-process model on the other, plus broken variants."""
    path = write_config(
        tmp_path_factory.mktemp("serve-config") / "serve.yaml",
        [
            serve_entry(serve),
            local_model_entry(demo_models_dir),
            serve_entry(serve, "serve-no-tokenizer", tokenizer=None),
            serve_entry(serve, "serve-unknown", model="no-such-model"),
            serve_entry(serve, "dead-endpoint", base_url=f"http://127.0.0.1:{free_port()}/v1"),
        ],
        "serve-demo",
        "local-demo",
        blind=False,
    )
    return load_config(path)


@pytest.fixture(scope="module")
def pool(serve_config: PlaygroundConfig) -> BackendPool:
    return BackendPool(serve_config)


def duel_of(config: PlaygroundConfig, pool: BackendPool, a: str, b: str) -> Duel:
    arena = config.arena.model_copy(update={"model_a": a, "model_b": b, "blind": False})
    return Duel.from_config(config.model_copy(update={"arena": arena}), pool)


async def collect(backend: object, messages: list[ChatMessage] = HELLO, params: SamplingParams = GREEDY) -> list:
    return [event async for event in backend.stream(messages, params)]  # type: ignore[attr-defined]


# --- the backend against the server ----------------------------------------------------------

async def test_streams_text_then_done_with_usage(pool: BackendPool) -> None:
    events = await collect(pool.get("serve-demo"))
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1  # streamed in pieces, not one final blob
    assert isinstance(events[-1], Done)
    assert events[-1].prompt_tokens and events[-1].prompt_tokens > 5
    assert 0 < events[-1].output_tokens <= 24
    assert events[-1].finish_reason in ("stop", "length")


async def test_concurrent_requests_are_batched_and_all_complete(pool: BackendPool) -> None:
    """Several raters (or app replicas) share the one server: continuous batching answers all."""
    backend = pool.get("serve-demo")
    params = SamplingParams(temperature=0.8, max_tokens=64)
    answers = await asyncio.gather(*(collect(backend, HELLO, params) for _ in range(4)))
    for events in answers:
        assert isinstance(events[-1], Done) and events[-1].output_tokens > 1


async def test_unknown_model_is_an_error_naming_url_and_model(serve_config: PlaygroundConfig, pool: BackendPool
                                                              ) -> None:
    events = await collect(pool.get("serve-unknown"))
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    message = events[0].message
    assert serve_config.model("serve-unknown").base_url in message and "no-such-model" in message
    assert "answered HTTP 4" in message


async def test_refused_connection_is_an_error_naming_url(serve_config: PlaygroundConfig, pool: BackendPool) -> None:
    events = await collect(pool.get("dead-endpoint"))
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert serve_config.model("dead-endpoint").base_url in events[0].message and "Cannot reach" in events[0].message


async def test_closing_the_stream_closes_the_connection(pool: BackendPool, serve: TransformersServe) -> None:
    backend = BackendPool(pool.config).get("serve-demo")  # its own connections
    before = connections_to(serve.port)
    stream = backend.stream(HELLO, SamplingParams(temperature=0.8, max_tokens=1500))
    async for event in stream:
        if isinstance(event, (TextDelta, ReasoningDelta)):
            break
    streaming = connections_to(serve.port) - before
    assert len(streaming) == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert not streaming & connections_to(serve.port)


# --- counting and the window: no /tokenize, no max_model_len -------------------------------

async def test_the_configured_tokenizer_counts_what_the_server_receives(pool: BackendPool) -> None:
    backend = pool.get("serve-demo")
    for messages in (CHAT, HELLO):
        counted = await backend.count_prompt(messages, SamplingParams(temperature=0.0, max_tokens=1))
        events = await collect(backend, messages, SamplingParams(temperature=0.0, max_tokens=1))
        assert isinstance(events[-1], Done) and events[-1].prompt_tokens == counted
    text = "Line one: 15 + 27 = 42.\n中国的首都是北京。"
    assert await backend.decode(await backend.encode(text)) == text
    # transformers serve lists the model without max_model_len: the config's window.
    assert await backend.context_window() == ContextWindow(WINDOW, "config")


async def test_without_a_tokenizer_counting_is_unavailable_and_says_what_to_set(pool: BackendPool) -> None:
    with pytest.raises(TokenCountUnavailable) as caught:
        await pool.get("serve-no-tokenizer").count_prompt(HELLO, GREEDY)
    assert "/tokenize answered HTTP 404" in str(caught.value) and "set `tokenizer:`" in str(caught.value)


async def test_health_check_sees_the_server_and_its_window(serve_config: PlaygroundConfig, pool: BackendPool) -> None:
    health = await model_health(serve_config.model("serve-demo"), pool.get("serve-demo"))
    assert (health.ok, health.context_window, health.window_source, health.error) == (True, WINDOW, "config", None)
    unknown = await model_health(serve_config.model("serve-unknown"), pool.get("serve-unknown"))
    assert not unknown.ok and "does not serve 'no-such-model'" in (unknown.error or "")


# --- the duel: transformers serve on one side, the in-process model on the other -----------

async def test_both_sides_start_before_either_finishes(serve_config: PlaygroundConfig, pool: BackendPool) -> None:
    duel = duel_of(serve_config, pool, "serve-demo", "local-demo")
    await pool.get("local-demo").load()  # type: ignore[attr-defined]
    turn = duel.start_turn("Explain why the sky is blue.", TurnSettings(temperature=0.0, max_tokens=1500))
    first: dict[str, float] = {}
    done: dict[str, float] = {}
    async for item in turn.stream():
        now = time.perf_counter()
        if isinstance(item.event, TextDelta):
            first.setdefault(item.side, now)
        if isinstance(item.event, Done):
            done[item.side] = now
    assert set(first) == set(done) == {"a", "b"}
    assert max(first.values()) < min(done.values())  # truly concurrent
    records = turn.records()
    assert records["a"].model == "serve-demo" and records["b"].model == "local-demo"
    for record in records.values():
        assert record.status == "done" and record.text
        assert record.ttft_s is not None and record.ttft_s > 0
        assert record.tokens_per_s and record.output_tokens > 1
        assert record.tpot_s is not None and len(record.itl_s) > 0


async def test_each_side_keeps_its_own_history(serve_config: PlaygroundConfig, pool: BackendPool) -> None:
    duel = duel_of(serve_config, pool, "serve-demo", "local-demo")
    settings = TurnSettings(temperature=0.0, max_tokens=16, system_prompt="Be brief.")
    for prompt in ("first question", "second question"):
        turn = duel.start_turn(prompt, settings)
        async for _ in turn.stream():
            pass
    answers = {side: turn.records()[side].text for side in "ab"}
    for side, contender in duel.contenders.items():
        assert [m["role"] for m in contender.history] == ["user", "assistant"] * 2
        assert contender.history[3]["content"] == answers[side]


@pytest.mark.parametrize("broken", ["dead-endpoint", "serve-unknown"])
async def test_one_side_failing_never_stops_the_other(
    serve_config: PlaygroundConfig, pool: BackendPool, broken: str
) -> None:
    duel = duel_of(serve_config, pool, broken, "serve-demo")
    turn = duel.start_turn("What is 2**10?", TurnSettings(temperature=0.0, max_tokens=32))
    async for _ in turn.stream():
        pass
    records = turn.records()
    assert records["a"].status == "error" and serve_config.model(broken).base_url in (records["a"].error or "")
    assert records["b"].status == "done" and records["b"].text


async def test_stop_cancels_both_sides_promptly(serve_config: PlaygroundConfig, serve: TransformersServe) -> None:
    pool = BackendPool(serve_config)  # a pool of its own: a new connection, told apart from idle ones
    await pool.get("local-demo").load()  # type: ignore[attr-defined]
    before = connections_to(serve.port)
    duel = duel_of(serve_config, pool, "serve-demo", "local-demo")
    turn = duel.start_turn("Tell me a long story.", TurnSettings(temperature=0.8, max_tokens=1800))
    started: set[str] = set()

    async def consume() -> None:
        async for item in turn.stream():
            if isinstance(item.event, (TextDelta, ReasoningDelta)):
                started.add(item.side)

    task = asyncio.create_task(consume())  # like Chainlit's on_message task
    while started != {"a", "b"}:
        assert not task.done(), "a side ended before both had started"
        await asyncio.sleep(0.01)
    streaming = connections_to(serve.port) - before
    assert len(streaming) == 1
    stop_at = time.perf_counter()
    task.cancel()  # what Chainlit's Stop button does
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - stop_at < 2.0
    for side, record in turn.records().items():
        assert (record.status, record.finish_reason, record.error) == ("stopped", "stopped", None), side
        assert record.text.strip() and 0 < record.output_tokens < 1800, side
    assert not streaming & connections_to(serve.port)  # the HTTP stream to the server is closed


async def test_a_long_document_is_cut_by_policy_and_the_server_receives_what_was_counted(
    serve_config: PlaygroundConfig, pool: BackendPool, tmp_path: Path
) -> None:
    text = render_haystack(2000, "The vault code is 7481.", 0.5, 5)  # about 6,000 demo tokens
    document = DocumentText(hashlib.sha256(text.encode()).hexdigest(), "notes.txt", "text", text,
                            len(text.encode()), None)
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    await upgrade(db)
    try:
        rater = await add_rater(db, f"r{uuid.uuid4().hex[:6]}", "password-1")
        assert rater.id is not None
        duel = Duel.seated(serve_config, pool, "serve-demo", "local-demo", blind=False)
        run = TurnRun(db, duel, ConversationSeat(str(uuid.uuid4()), rater.id),
                      TurnInput("What is the vault code?", documents=(document,)),
                      TurnSettings(temperature=0.0, max_tokens=MAX_TOKENS), policies={"a": "head", "b": "refuse"})
        turn = await run.play()
        async with db.sessions() as session:
            rows = (await session.exec(select(Response).where(Response.turn_id == turn.id))).all()
    finally:
        await db.dispose()
    stored = {r.side: r for r in rows}
    served = stored["a"]
    assert served.status == "done" and served.context_window == WINDOW
    assert served.prompt_tokens_full is not None and served.prompt_tokens_full > 4000
    assert served.prompt_tokens_sent is not None and served.prompt_tokens_sent + MAX_TOKENS <= WINDOW
    assert served.prompt_tokens == served.prompt_tokens_sent  # counted with the checkpoint = what it got
    assert "Kept the first" in (served.context_note or "")
    assert stored["b"].status == "error" and stored["b"].prompt_tokens is None  # refused: nothing sent
