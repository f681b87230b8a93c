"""The local transformers backend, on a real (tiny) checkpoint."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from playground.backends.local_transformers import TransformersBackend
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, TransformersModel
from playground.core.events import Done, ErrorEvent, SamplingParams, TextDelta

from .streams import read_then_close

HELLO = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = SamplingParams(temperature=0.0, max_tokens=32)


def local(duel_config: PlaygroundConfig) -> TransformersBackend:
    backend = BackendPool(duel_config).get("local-demo")
    assert isinstance(backend, TransformersBackend)
    return backend


async def test_streams_tokens_with_chat_template(duel_config: PlaygroundConfig) -> None:
    events = [e async for e in local(duel_config).stream(HELLO, GREEDY)]
    assert sum(isinstance(e, TextDelta) for e in events) > 1
    done = events[-1]
    assert isinstance(done, Done)
    assert done.prompt_tokens and done.prompt_tokens > 5  # the chat template wrapped the prompt
    assert 0 < done.output_tokens <= 32
    # Text goes out token by token, not held back until a word ends (a long run without spaces
    # must not stall the pane and then burst).
    assert sum(isinstance(e, TextDelta) for e in events) >= done.output_tokens // 2


async def test_generation_never_blocks_the_event_loop(duel_config: PlaygroundConfig) -> None:
    backend = local(duel_config)
    await backend.load()
    ticks: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.002)

    task = asyncio.create_task(ticker())
    times = [time.perf_counter() async for _ in backend.stream(HELLO, SamplingParams(0.0, 1.0, 200))]
    running = False
    await task
    during = [t for t in ticks if times[0] <= t <= times[-1]]
    # The loop kept running between tokens: many ticks while generate() worked in its thread.
    assert len(during) >= 10
    assert max(b - a for a, b in zip(during, during[1:], strict=False)) < 0.5


async def test_stop_ends_generation_within_a_few_tokens(duel_config: PlaygroundConfig) -> None:
    backend = local(duel_config)
    await backend.load()
    await read_then_close(backend, HELLO)
    # The worker thread notices the stop and releases the model; generating 1900 tokens would
    # take many seconds here.
    released_after = time.perf_counter()
    async with backend._turn:
        waited = time.perf_counter() - released_after
    assert waited < 2.0
    # The next request runs normally.
    events = [e async for e in backend.stream(HELLO, GREEDY)]
    assert isinstance(events[-1], Done)


async def test_concurrent_requests_wait_their_turn(duel_config: PlaygroundConfig) -> None:
    backend = local(duel_config)

    async def run(tag: str) -> list[tuple[str, float, object]]:
        return [(tag, time.perf_counter(), e) async for e in backend.stream(HELLO, GREEDY)]

    first, second = await asyncio.gather(run("one"), run("two"))
    for events in (first, second):
        assert isinstance(events[-1][2], Done)  # neither failed
    # One ran after the other: no interleaving of their token streams.
    spans = sorted([(first[0][1], first[-1][1]), (second[0][1], second[-1][1])])
    assert spans[0][1] <= spans[1][0]
    # And the same greedy prompt gives the same answer both times.
    text = lambda evs: "".join(e.text for _, _, e in evs if isinstance(e, TextDelta))  # noqa: E731
    assert text(first) == text(second)


async def test_context_window_overflow_is_an_error(duel_config: PlaygroundConfig) -> None:
    long_prompt = [{"role": "user", "content": "capital " * 3000}]
    events = [e async for e in local(duel_config).stream(long_prompt, GREEDY)]
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert "context window of 2048" in events[0].message


async def test_broken_checkpoint_is_an_error_event(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    model = TransformersModel(name="broken", backend="transformers", path=str(tmp_path))
    events = [e async for e in TransformersBackend(model, tmp_path).stream(HELLO, GREEDY)]
    assert len(events) == 1 and isinstance(events[0], ErrorEvent)
    assert "Cannot load local model 'broken'" in events[0].message and str(tmp_path) in events[0].message


async def test_counting_while_generating(duel_config: PlaygroundConfig) -> None:
    """Another chat counts a long document while the model generates: both use the one tokenizer
    (the count in a worker thread, the streamer's decode in the generate thread)."""
    backend = local(duel_config)
    await backend.load()
    long = [{"role": "user", "content": "capital " * 6000}]  # long enough to be counted in a thread
    expected = await backend.count_prompt(long, GREEDY)
    assert expected > 6000
    counts: list[int] = []
    events = []
    async for event in backend.stream(HELLO, SamplingParams(0.0, 1.0, 200)):
        events.append(event)
        if isinstance(event, TextDelta) and len(counts) < 5:
            counts.append(await backend.count_prompt(long, GREEDY))
    assert isinstance(events[-1], Done)
    assert counts == [expected] * 5
