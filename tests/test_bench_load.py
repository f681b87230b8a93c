"""``playground bench load``, small: one ``chainlit run`` process, scripted socket.io raters, and
the synthetic OpenAI-compatible stream it may put behind the panes (named as such)."""

from __future__ import annotations

from pathlib import Path

from playground.backends.openai_compatible import OpenAICompatibleBackend
from playground.core.config import OpenAIModel, load_config
from playground.core.events import Done, ErrorEvent, SamplingParams, TextDelta
from playground.devtools.bench.load import SyntheticServer, bench_load
from playground.devtools.synthetic_openai import SERVED_NAME, pieces
from playground.devtools.vllm_server import VLLMServer

from .conftest import local_model_entry, vllm_model_entry, write_config


async def test_the_synthetic_server_streams_its_answer_through_the_openai_backend(
    tmp_path: Path, demo_models_dir: Path
) -> None:
    server = SyntheticServer(rate=400.0, log_path=tmp_path / "synthetic.log")
    server.start()
    try:
        model = OpenAIModel(name="synthetic-a", backend="openai", base_url=server.base_url, model=SERVED_NAME)
        backend = OpenAICompatibleBackend(model, demo_models_dir / "demo-a")
        events = [e async for e in backend.stream([{"role": "user", "content": "hi"}],
                                                  SamplingParams(temperature=0.0, max_tokens=40))]
        window = await backend.context_window()
    finally:
        server.stop()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "".join(pieces(40)) and text.startswith("## A short answer")
    done = events[-1]
    assert isinstance(done, Done) and (done.finish_reason, done.output_tokens) == ("length", 40)
    assert (window.tokens, window.source) == (32_768, "server")


async def test_scripted_raters_on_one_app_lose_nothing_on_the_synthetic_stream(demo_models_dir: Path) -> None:
    result = await bench_load(None, raters=3, turns=2, max_tokens=24, rate=200.0,
                              tokenizer=demo_models_dir / "demo-a")
    print(result)
    assert result["models"] == "synthetic"  # the output names what answered
    assert (result["turns_played"], result["failed_turns"]) == (6, 0)
    assert result["ratings_acknowledged"] == result["ratings_stored"] == 6
    assert (result["ratings_lost"], result["ratings_refused"]) == (0, 0)
    assert result["loop_lag_samples"] > 10 and result["loop_lag_p99_ms"] is not None
    assert 0 < result["p50_rating_ack_ms"] <= result["p99_rating_ack_ms"]
    # Bytes were counted for every turn against the answers' rendered HTML.
    assert result["ws_bytes_per_turn_ratio"] > 1 and result["final_html_bytes_per_turn_mean"] > 100


async def test_scripted_raters_on_the_demo_backends(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path
) -> None:
    config = load_config(write_config(
        tmp_path / "load.yaml", [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir)],
        "vllm-demo", "local-demo", blind=True,
    ))
    result = await bench_load(config, raters=2, turns=1, max_tokens=16)
    print(result)
    assert result["models"] == "demo"
    assert (result["turns_played"], result["failed_turns"], result["ratings_lost"]) == (2, 0, 0)
    assert result["ratings_stored"] == 2


async def test_a_server_that_dies_mid_stream_is_an_error_in_the_pane(tmp_path: Path, demo_models_dir: Path) -> None:
    server = SyntheticServer(rate=20.0, log_path=tmp_path / "synthetic.log")
    server.start()
    try:
        model = OpenAIModel(name="synthetic-a", backend="openai", base_url=server.base_url, model=SERVED_NAME)
        backend = OpenAICompatibleBackend(model, demo_models_dir / "demo-a")
        events = []
        async for event in backend.stream([{"role": "user", "content": "hi"}], SamplingParams(0.0, 1.0, 400)):
            events.append(event)
            if len(events) == 3:
                assert server.process is not None
                server.process.kill()  # the server goes away while it streams
    finally:
        server.stop()
    assert sum(isinstance(e, TextDelta) for e in events) >= 3  # what came before is kept
    error = events[-1]
    assert isinstance(error, ErrorEvent) and "while streaming" in error.message and server.base_url in error.message
