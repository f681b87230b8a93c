"""The turn log: one JSON line per turn (replica, models, timings, status, token counts), never
the prompt, the answer or an API key, even when a server quotes them back in its error.

Real turns through TurnRun on a real SQLite database: one side a FakeBackend, the other the real
OpenAI backend against a loopback server that refuses every request and quotes the key and the
request body in its error (as some servers do)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.arena.turn_log import TURN_LOGGER, error_class
from playground.backends.fake import FakeBackend, words_script
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, parse_config
from playground.core.generation import GenerationRecord
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.raters import add_rater

PROMPT_MARKER = "PROMPT-MARKER-7f3a9c"
ANSWER_MARKER = "ANSWER-MARKER-51be02"
KEY_MARKER = "sk-KEY-MARKER-c0ffee42"
SIDE_FIELDS = {"model", "status", "finish_reason", "ttft_s", "total_s", "prompt_tokens", "prompt_tokens_counted",
               "cached_tokens", "context_window", "truncation", "output_tokens", "tokens_per_s", "error_class"}


async def quoting_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP 401 to every request, quoting its Authorization header and its body."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
    body = (await reader.readexactly(length)).decode() if length else ""
    auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
    answer = json.dumps({"error": {"message": f"Incorrect API key provided: {auth}; request: {body}",
                                   "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
    writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode() + answer)
    await writer.drain()
    writer.close()


@pytest.fixture
async def quoting_url() -> AsyncIterator[str]:
    server = await asyncio.start_server(quoting_server, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    server.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'playground.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


def keyed_config(base_url: str) -> PlaygroundConfig:
    entry = {"backend": "openai", "base_url": base_url, "model": "served-model", "api_key_env": "TURN_LOG_TEST_KEY",
             "context_window": 4096, "defaults": {"temperature": 0.0, "max_tokens": 32}}
    return parse_config({"models": [{"name": "keyed", **entry}, {"name": "fake", **entry}],
                         "arena": {"model_a": "keyed", "model_b": "fake", "blind": False}}, "turn-log.yaml")


def turn_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    lines = []
    for r in caplog.records:
        if r.name == TURN_LOGGER:
            try:
                lines.append(json.loads(r.getMessage()))
            except ValueError:
                raise AssertionError(f"not a JSON line (TurnRun.play must log with "
                                     f"playground.arena.turn_log.log_turn): {r.getMessage()!r}") from None
    return lines


async def test_one_json_line_per_turn_without_prompt_answer_or_key(
    sqlite_db: Database, quoting_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURN_LOG_TEST_KEY", KEY_MARKER)
    monkeypatch.setenv("PLAYGROUND_REPLICA", "replica-under-test")
    caplog.set_level(logging.INFO)  # what the app logs (Chainlit's root logger is at INFO)
    config = keyed_config(quoting_url)
    pool = BackendPool(config)  # "keyed": the real OpenAI backend with the secret key
    fake = FakeBackend("fake", [words_script(f"The answer is {ANSWER_MARKER} indeed.")])
    pool.register("fake", fake)
    duel = Duel.from_config(config, pool)
    rater = await add_rater(sqlite_db, "logged", "password-1")
    assert rater.id is not None
    seat = ConversationSeat(str(uuid.uuid4()), rater.id)
    runs = []
    for prompt in (f"Tell me about {PROMPT_MARKER}.", f"And again {PROMPT_MARKER}?"):
        run = TurnRun(sqlite_db, duel, seat, TurnInput(prompt), TurnSettings(temperature=0.0, max_tokens=32))
        await run.play()
        runs.append(run)

    # The markers really went through: the prompt to both models, the key to the server, and
    # the server's error (quoting both) into the stored record.
    records = runs[0].turn.records()
    assert PROMPT_MARKER in fake.requests[0][0][-1]["content"]
    assert ANSWER_MARKER in records["b"].text
    assert KEY_MARKER in (records["a"].error or "") and PROMPT_MARKER in (records["a"].error or "")

    lines = turn_lines(caplog)
    assert len(lines) == 2  # one per turn, each a JSON object
    for line in lines:
        assert line["event"] == "turn" and line["replica"] == "replica-under-test"
        assert line["conversation_id"] == seat.id
        assert line["models"] == {"a": "keyed", "b": "fake"}
        assert set(line["sides"]) == {"a", "b"}
        for side in line["sides"].values():
            assert set(side) == SIDE_FIELDS
        a, b = line["sides"]["a"], line["sides"]["b"]
        assert (a["status"], a["error_class"], a["output_tokens"]) == ("error", "http_401", 0)
        assert (b["status"], b["error_class"], b["finish_reason"]) == ("done", None, "stop")
        assert b["output_tokens"] == 5 and b["ttft_s"] >= 0 and b["total_s"] >= b["ttft_s"]
        assert b["tokens_per_s"] > 0
        assert b["prompt_tokens_counted"] and b["context_window"] == 4096
    # Nothing anywhere in the captured log (ours, httpx's, openai's) holds a marker.
    everything = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records) + caplog.text
    for marker in (PROMPT_MARKER, ANSWER_MARKER, KEY_MARKER):
        assert marker not in everything


def record(status: str, error: str | None) -> GenerationRecord:
    return GenerationRecord("a", "m", "", "", status, "error" if error else "stop", error,  # type: ignore[arg-type]
                            None, None, None, (), 0, None, None)


@pytest.mark.parametrize(("error", "expected"), [
    ("Timed out after 5 s waiting for http://h/v1 (model 'm').", "timeout"),
    ("Cannot reach http://h/v1 (model 'm'): ConnectError: refused", "connection"),
    ("http://h/v1 (model 'm') answered HTTP 404: The model `x` does not exist.", "http_404"),
    ("Cannot load local model 'm' from /p: boom", "load"),
    ("Local model 'm' failed while generating: RuntimeError: x", "generation"),
    ("m: TokenCountUnavailable: cannot count", "TokenCountUnavailable"),
    ("m: the stream ended without a result", "stream_ended"),
    ("something else", "other"),
])
def test_error_classes_are_fixed_words(error: str, expected: str) -> None:
    assert error_class(record("error", error)) == expected
    assert error_class(record("done", None)) is None
