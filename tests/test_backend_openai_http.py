"""The OpenAI-compatible backend's HTTP side against real servers on loopback (the synthetic
stream, and raw sockets for what a proxy in front of vLLM may answer): errors that name their
server, and no client session or connection left behind by a stream."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from playground.backends.openai_compatible import OpenAICompatibleBackend
from playground.core.config import OpenAIModel
from playground.core.events import Done, ErrorEvent, SamplingParams, TextDelta
from playground.devtools.bench.load import SyntheticServer
from playground.devtools.synthetic_openai import SERVED_NAME, pieces

from .sockets import connections_to

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def synthetic(tmp_path: Path):
    server = SyntheticServer(rate=400.0, log_path=tmp_path / "synthetic.log")
    server.start()
    yield server
    server.stop()


def backend_for(base_url: str, timeout_s: float = 60.0) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(OpenAIModel(name="m", backend="openai", base_url=base_url, model=SERVED_NAME,
                                               timeout_s=timeout_s))


async def answer(backend: OpenAICompatibleBackend, tokens: int = 12) -> list:
    return [event async for event in backend.stream(HI, SamplingParams(temperature=0.0, max_tokens=tokens))]


async def test_streams_share_a_client_and_leave_no_connection_behind(synthetic: SyntheticServer) -> None:
    backend = backend_for(synthetic.base_url)
    results = await asyncio.gather(*(answer(backend) for _ in range(3)))
    for events in results:
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(pieces(12))
        assert isinstance(events[-1], Done) and events[-1].output_tokens == 12
    # The last stream's end closed the client: nothing is kept open between turns (or at exit).
    assert not connections_to(synthetic.port)


def test_a_backend_streams_on_one_event_loop_after_another(
    synthetic: SyntheticServer, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio.run() twice (a CLI command, then another; tests): each loop gets its own client,
    and none is left unclosed to complain when its loop is gone."""
    backend = backend_for(synthetic.base_url)
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            events = asyncio.run(answer(backend))
            assert isinstance(events[-1], Done)
    assert not [r for r in caplog.records if "nclosed" in r.getMessage()]


async def raw_server(reply: bytes) -> tuple[asyncio.Server, int]:
    """A server that answers every request with ``reply`` as is (a proxy's error page, say)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("body", "content_type", "shown"), [
    (b'{"error": {"message": "The model `x` does not exist.", "code": 404}}', "application/json",
     "The model `x` does not exist."),
    (b'{"detail": "Not authenticated"}', "application/json", "Not authenticated"),
    (b"<html><body>502 Bad Gateway</body></html>", "text/html", "<html><body>502 Bad Gateway</body></html>"),
    (b"", "text/plain", "(no body)"),
])
async def test_an_error_status_shows_what_the_server_said(body: bytes, content_type: str, shown: str) -> None:
    reply = (b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: " + content_type.encode()
             + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    server, port = await raw_server(reply)
    try:
        events = await answer(backend_for(f"http://127.0.0.1:{port}/v1"))
    finally:
        server.close()
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    message = events[0].message
    assert message.startswith(f"http://127.0.0.1:{port}/v1 (model '{SERVED_NAME}') answered HTTP 502: ")
    assert message.endswith(shown)


async def test_a_stream_that_stops_sending_times_out_with_its_text_kept() -> None:
    """Headers and one token, then silence: the read timeout ends it as an error, after the text."""
    chunk = b'data: {"choices": [{"delta": {"content": "Hello"}}]}\n\n'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        await release.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        events = await asyncio.wait_for(answer(backend_for(f"http://127.0.0.1:{port}/v1", timeout_s=0.5)), 10)
    finally:
        release.set()
        server.close()
    assert [type(e) for e in events] == [TextDelta, ErrorEvent]
    assert events[0].text == "Hello"
    assert events[1].message.startswith("Timed out after 0.5 s waiting for ") and str(port) in events[1].message
