"""Counting tokens as each model does: vLLM's /tokenize on the real demo server, a configured
tokenizer when the server has none, the local model's own tokenizer, and the scripted fake."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playground.backends.base import ContextWindow, TokenCountUnavailable
from playground.backends.fake import MESSAGE_OVERHEAD, FakeBackend
from playground.backends.local_transformers import TransformersBackend
from playground.backends.openai_compatible import OpenAICompatibleBackend
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, load_config
from playground.core.events import ChatMessage, Done, SamplingParams

from .conftest import free_port, local_model_entry, write_config

CHAT: list[ChatMessage] = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "Calculate 15 + 27 and 8 x 7.\n中国的首都是北京。"},
]
# Multi-line, digits, CJK, runs of spaces, punctuation: all characters the demo tokenizer knows
# (it maps characters it never saw to <unk>, which no tokenizer can give back).
TEXT = (
    "Line one: 15 + 27 = 42.\n中国的首都是北京。地球上最大的海洋是太平洋。\n"
    "  two  spaces, [1, 2, 3] ok?\n\n    def hello(name): return f\"hello {name}\"\n"
)
ONE_TOKEN = SamplingParams(temperature=0.0, max_tokens=1)
KWARGS = SamplingParams(temperature=0.0, max_tokens=1, chat_template_kwargs={"enable_thinking": False})


async def prompt_tokens_of_a_real_answer(backend: object, messages: list[ChatMessage], params: SamplingParams) -> int:
    events = [e async for e in backend.stream(messages, params)]  # type: ignore[attr-defined]
    done = events[-1]
    assert isinstance(done, Done), events
    assert done.prompt_tokens is not None
    return done.prompt_tokens


# --- a stand-in for a server without /tokenize (OpenAI, a proxy) ----------------------------

class NoTokenizeServer:
    """A local HTTP server that has /v1/models but answers 404 to /tokenize and /detokenize, as
    FastAPI does for a route it does not have; it records every path asked."""

    def __init__(self, models: dict[str, object]) -> None:
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: object) -> None:
                owner.paths.append(f"{self.command} {self.path}")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer(404, {"detail": "Not Found"})

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/v1/models":
                    self._answer(200, models)
                else:
                    self._answer(404, {"detail": "Not Found"})

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def no_tokenize_server() -> Iterator[NoTokenizeServer]:
    server = NoTokenizeServer({"object": "list", "data": [{"id": "demo-a", "object": "model"}]})
    yield server
    server.close()


def config_beside_tokenizer(tmp_path: Path, demo_models_dir: Path, base_url: str, tokenizer: str | None) -> Path:
    """A config in tmp_path whose model has `tokenizer:` relative to the config file's folder."""
    shutil.copytree(demo_models_dir / "demo-a", tmp_path / "tokenizers" / "demo-a")
    entry: dict[str, object] = {
        "name": "remote", "backend": "openai", "base_url": base_url, "model": "demo-a",
        "context_window": 3000, "timeout_s": 30,
    }
    if tokenizer is not None:
        entry["tokenizer"] = tokenizer
    return write_config(tmp_path / "config.yaml", [entry], "remote", "remote")


# --- vLLM ---------------------------------------------------------------------------------

async def test_count_prompt_equals_what_vllm_generates_from(duel_config: PlaygroundConfig) -> None:
    backend = BackendPool(duel_config).get("vllm-demo")
    for messages, params in ((CHAT, ONE_TOKEN), (CHAT[1:2], ONE_TOKEN), (CHAT, KWARGS)):
        counted = await backend.count_prompt(messages, params)
        assert counted == await prompt_tokens_of_a_real_answer(backend, messages, params)
    # The template and generation prompt are counted, not just the words.
    assert await backend.count_prompt(CHAT[1:2], ONE_TOKEN) > len(await backend.encode(CHAT[1]["content"])) + 3


async def test_encode_decode_round_trip_on_vllm(duel_config: PlaygroundConfig, demo_models_dir: Path) -> None:
    backend = BackendPool(duel_config).get("vllm-demo")
    tokens = await backend.encode(TEXT)
    assert await backend.decode(tokens) == TEXT
    # Plain text: the same ids as the checkpoint's tokenizer gives without special tokens.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_models_dir / "demo-a")
    assert tokens == tokenizer.encode(TEXT, add_special_tokens=False)
    # A cut in the middle of the ids still decodes (the arena cuts documents at token boundaries).
    assert TEXT.startswith(await backend.decode(tokens[: len(tokens) // 2]))


async def test_context_window_is_read_from_vllm(duel_config: PlaygroundConfig) -> None:
    model = duel_config.model("vllm-demo").model_copy(update={"context_window": 999})
    window = await OpenAICompatibleBackend(model).context_window()
    assert window == ContextWindow(2048, "server")  # --max-model-len of the fixture, not the config's 999


async def test_unknown_model_on_vllm_is_named_and_asked_again(duel_config: PlaygroundConfig) -> None:
    backend = BackendPool(duel_config).get("unknown-model")
    for _ in range(2):  # vLLM's 404 for a model it does not serve is not "no /tokenize"
        with pytest.raises(TokenCountUnavailable) as caught:
            await backend.count_prompt(CHAT, ONE_TOKEN)
        assert "no-such-model" in str(caught.value) and "/tokenize answered HTTP 404" in str(caught.value)
    # Its window falls back to the config's: /v1/models lists no such model.
    assert await backend.context_window() == ContextWindow(2048, "config")


async def test_configured_tokenizer_counts_when_the_server_has_no_tokenize(
    duel_config: PlaygroundConfig, demo_models_dir: Path, no_tokenize_server: NoTokenizeServer, tmp_path: Path
) -> None:
    vllm = BackendPool(duel_config).get("vllm-demo")
    config = load_config(config_beside_tokenizer(tmp_path, demo_models_dir, no_tokenize_server.base_url,
                                                 "tokenizers/demo-a"))
    backend = BackendPool(config).get("remote")
    assert await backend.count_prompt(CHAT, ONE_TOKEN) == await vllm.count_prompt(CHAT, ONE_TOKEN)
    assert no_tokenize_server.paths == ["POST /tokenize"]  # asked, answered 404, remembered
    tokens = await backend.encode(TEXT)
    assert tokens == await vllm.encode(TEXT)
    assert await backend.decode(tokens) == TEXT
    assert await backend.count_prompt(CHAT[1:2], ONE_TOKEN) == await vllm.count_prompt(CHAT[1:2], ONE_TOKEN)
    assert no_tokenize_server.paths == ["POST /tokenize"]  # never asked again
    # /v1/models answers without max_model_len (as OpenAI's does): the config's window, asked once a minute.
    assert await backend.context_window() == ContextWindow(3000, "config")
    assert await backend.context_window() == ContextWindow(3000, "config")
    assert no_tokenize_server.paths.count("GET /v1/models") == 1


async def test_configured_tokenizer_counts_when_the_server_is_down(
    duel_config: PlaygroundConfig, demo_models_dir: Path, tmp_path: Path
) -> None:
    vllm = BackendPool(duel_config).get("vllm-demo")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    backend = BackendPool(load_config(config_beside_tokenizer(tmp_path, demo_models_dir, dead,
                                                              "tokenizers/demo-a"))).get("remote")
    assert await backend.count_prompt(CHAT, KWARGS) == await vllm.count_prompt(CHAT, KWARGS)
    assert await backend.decode(await backend.encode(TEXT)) == TEXT
    assert await backend.context_window() == ContextWindow(3000, "config")


async def test_without_tokenize_or_tokenizer_counting_is_unavailable(
    demo_models_dir: Path, no_tokenize_server: NoTokenizeServer, tmp_path: Path
) -> None:
    backend = BackendPool(load_config(config_beside_tokenizer(tmp_path, demo_models_dir, no_tokenize_server.base_url,
                                                              None))).get("remote")
    for attempt in (backend.count_prompt(CHAT, ONE_TOKEN), backend.encode(TEXT), backend.decode([1, 2])):
        with pytest.raises(TokenCountUnavailable) as caught:
            await attempt
        message = str(caught.value)
        assert f"{no_tokenize_server.base_url.removesuffix('/v1')}/tokenize answered HTTP 404" in message
        assert "set `tokenizer:`" in message and "'remote'" in message
    assert no_tokenize_server.paths == ["POST /tokenize"]

    dead = f"http://127.0.0.1:{free_port()}/v1"
    model = load_config(config_beside_tokenizer(tmp_path / "dead", demo_models_dir, dead, None)).model("remote")
    with pytest.raises(TokenCountUnavailable, match=r"cannot reach http://127\.0\.0\.1:\d+/tokenize.*set `tokenizer:`"):
        await OpenAICompatibleBackend(model).count_prompt(CHAT, ONE_TOKEN)


async def test_a_missing_tokenizer_folder_is_named(no_tokenize_server: NoTokenizeServer, tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.yaml", [{
        "name": "remote", "backend": "openai", "base_url": no_tokenize_server.base_url, "model": "demo-a",
        "tokenizer": "no-such-folder",
    }], "remote", "remote")
    backend = BackendPool(load_config(path)).get("remote")
    with pytest.raises(TokenCountUnavailable, match="Cannot load the tokenizer of 'remote' from .*no-such-folder"):
        await backend.count_prompt(CHAT, ONE_TOKEN)


# --- the local transformers model ---------------------------------------------------------

@pytest.fixture
def local_config(demo_models_dir: Path, tmp_path: Path) -> PlaygroundConfig:
    entry = local_model_entry(demo_models_dir)
    return load_config(write_config(tmp_path / "local.yaml", [entry], "local-demo", "local-demo"))


async def test_local_count_is_the_chat_template_and_what_generate_receives(local_config: PlaygroundConfig) -> None:
    from transformers import AutoTokenizer

    backend = BackendPool(local_config).get("local-demo")
    assert isinstance(backend, TransformersBackend)
    tokenizer = AutoTokenizer.from_pretrained(backend.path)
    for messages in (CHAT, CHAT[1:2]):
        expected = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                                 return_dict=True)["input_ids"]
        counted = await backend.count_prompt(messages, ONE_TOKEN)
        assert counted == len(expected)
        assert counted == await prompt_tokens_of_a_real_answer(backend, messages, ONE_TOKEN)
    tokens = await backend.encode(TEXT)
    assert tokens == tokenizer.encode(TEXT, add_special_tokens=False)
    assert await backend.decode(tokens) == TEXT
    assert await backend.context_window() == ContextWindow(2048, "config")


async def test_local_counting_needs_no_weights(demo_models_dir: Path, tmp_path: Path) -> None:
    """A folder with the tokenizer files only: counting works, so it never loads the weights (it
    could not), and the chat template's arguments reach the template."""
    folder = tmp_path / "tokenizer-only"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(demo_models_dir / "demo-b" / name, folder / name)
    # Qwen3-style: an empty thinking block when the caller turns thinking off.
    template = (demo_models_dir / "demo-b" / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").write_text(
        template + "{% if add_generation_prompt and enable_thinking is defined and not enable_thinking %}"
        "{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
    )
    entry = local_model_entry(demo_models_dir, path=str(folder))
    config = load_config(write_config(tmp_path / "local.yaml", [entry], "local-demo", "local-demo"))
    backend = BackendPool(config).get("local-demo")
    assert isinstance(backend, TransformersBackend)
    plain = await backend.count_prompt(CHAT, ONE_TOKEN)
    assert await backend.count_prompt(CHAT, KWARGS) > plain + 3
    assert await backend.decode(await backend.encode(TEXT)) == TEXT
    assert backend._loaded is None  # the weights were never loaded


# --- the fake -----------------------------------------------------------------------------

async def test_fake_counts_words_and_decodes_exactly() -> None:
    fake = FakeBackend("fake", window=100)
    text = "the cat  sat\non the\tmat 42 北京"
    tokens = await fake.encode(text)
    assert len(tokens) == 8 and tokens[0] == tokens[4]  # "the" twice, one id
    assert await fake.decode(tokens) == "the cat sat on the mat 42 北京"  # whitespace runs become one space
    assert await fake.decode(tokens[2:5]) == "sat on the"
    assert await FakeBackend("other").encode(text) == tokens  # the same text, the same ids, on any instance
    messages: list[ChatMessage] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    assert await fake.count_prompt(messages, ONE_TOKEN) == 2 * MESSAGE_OVERHEAD + 2 + 8
    assert await fake.context_window() == ContextWindow(100, "config")
    with pytest.raises(ValueError, match="never given by encode"):
        await fake.decode([len(fake.vocabulary)])


async def test_fake_that_cannot_count() -> None:
    fake = FakeBackend("fake", counts=False)
    with pytest.raises(TokenCountUnavailable, match="'fake' cannot count"):
        await fake.count_prompt(CHAT, ONE_TOKEN)
    with pytest.raises(TokenCountUnavailable):
        await fake.encode("x")
    assert await fake.context_window() == ContextWindow(4096, "config")
