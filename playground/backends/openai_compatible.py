"""Any server that speaks OpenAI's ``/v1/chat/completions`` with streaming (vLLM above all).

Tokens are counted the way the served model counts them: by vLLM's own ``/tokenize`` and
``/detokenize`` (at the server root, beside ``/v1``), which apply the chat template the server
uses. A server without them (OpenAI, most proxies) falls back to the ``tokenizer:`` folder of the
config; with neither, counting raises TokenCountUnavailable and the prompt goes out uncounted.
The context window is vLLM's ``max_model_len`` from ``/v1/models``, else the config's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx

from playground.backends.base import ContextWindow, TokenCountUnavailable
from playground.backends.hf_tokenizer import LocalTokenizer
from playground.core.config import OpenAIModel
from playground.core.events import (
    BackendEvent,
    ChatMessage,
    Done,
    ErrorEvent,
    FinishReason,
    ReasoningDelta,
    SamplingParams,
)
from playground.core.reasoning import ThinkSplitter

# The server's context window is asked before every long turn; it changes only when the server
# restarts with another --max-model-len, so a minute-old answer is good enough.
WINDOW_CACHE_S = 60.0
# /v1/models is a small, instant answer: a server that takes longer is not going to give one.
WINDOW_TIMEOUT_S = 5.0


# An idle kept-alive connection is dropped by us before the server drops it: vLLM (uvicorn) closes
# one after 5 s, httpx's default is also 5 s, and a request sent on a connection the server is
# closing that moment fails with a ReadError (seen with 50 raters: a rater's next turn, ~5 s after
# the last, failed in both panes). Without retries, nothing would send it again.
KEEPALIVE_EXPIRY_S = 2.0
MAX_CONNECTIONS = 1000
CONNECTION_LIMITS = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=100,
                                 keepalive_expiry=KEEPALIVE_EXPIRY_S)
# The longest event line of a stream read (aiohttp's line limit): far above a token's chunk.
MAX_EVENT_BYTES = 4 * 1024 * 1024


@dataclass
class _SharedSession:
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    users: int = 0


class OpenAICompatibleBackend:
    def __init__(self, model: OpenAIModel, tokenizer_path: Path | None = None) -> None:
        """``tokenizer_path``: the config's ``tokenizer:`` already resolved (BackendPool does it);
        when not given, ``model.tokenizer`` is used as written."""
        self.name = model.name
        self.model = model
        # The chat streams' client, made on the loop that streams (aiohttp binds a session to it).
        self._streams: _SharedSession | None = None
        self.root = model.base_url.rstrip("/").removesuffix("/v1")
        # One client for /tokenize, /detokenize and /models: its connections are kept alive
        # between the several counts of one long turn. The same timeout as the chat: tokenizing
        # a 256K-token document takes the server about a second.
        self._http = httpx.AsyncClient(
            timeout=model.timeout_s,
            limits=CONNECTION_LIMITS,
            headers={"Authorization": f"Bearer {model.api_key() or 'EMPTY'}"},
        )
        if tokenizer_path is None and model.tokenizer:
            tokenizer_path = Path(model.tokenizer).expanduser()
        self._tokenizer = LocalTokenizer(tokenizer_path, model.name) if tokenizer_path else None
        # Whether the server's /tokenize works: "absent" once it answered 404/405 (or is not
        # vLLM's), remembered so that every later count goes straight to the fallback.
        self._tokenize_state: Literal["unknown", "works", "absent"] = "unknown"
        self._tokenize_absent_reason = ""
        self._window: tuple[float, ContextWindow] | None = None  # (monotonic time, answer)

    async def warm_up(self) -> None:
        """Read the fallback tokenizer now (at the app's start), not on a rater's first count:
        reading it, and importing transformers, holds the interpreter for a few hundred
        milliseconds, during which every session of the app waits."""
        if self._tokenizer is None:
            return
        try:
            await asyncio.to_thread(self._tokenizer.load_sync)
        except TokenCountUnavailable:
            pass  # said again, where it matters, when a count needs the tokenizer

    @contextlib.asynccontextmanager
    async def _stream_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The chat streams' client while any stream of this loop runs (their connections kept
        alive between them), closed when the last one ends: no session outlives its loop, whose
        end (asyncio.run's, a test's) would otherwise leave it to warn, unclosed, at exit."""
        loop = asyncio.get_running_loop()
        if self._streams is None or self._streams.loop is not loop:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.model.timeout_s,
                                            sock_read=self.model.timeout_s)
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY_S)
            # trust_env: HTTP(S)_PROXY and NO_PROXY as the counting client (httpx) reads them.
            self._streams = _SharedSession(loop, aiohttp.ClientSession(
                timeout=timeout, connector=connector, read_bufsize=MAX_EVENT_BYTES, trust_env=True,
                headers={"Authorization": f"Bearer {self.model.api_key() or 'EMPTY'}"}))
        shared = self._streams
        shared.users += 1
        try:
            yield shared.session
        finally:
            shared.users -= 1
            if shared.users == 0:
                if self._streams is shared:  # the next stream makes a new one
                    self._streams = None
                await shared.session.close()

    async def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        body: dict[str, Any] = {
            "model": self.model.model, "messages": list(messages), "temperature": params.temperature,
            "top_p": params.top_p, "max_tokens": params.max_tokens, "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.chat_template_kwargs:
            # vLLM passes these to the chat template (e.g. Qwen3's enable_thinking).
            body["chat_template_kwargs"] = params.chat_template_kwargs
        where = f"{self.model.base_url} (model {self.model.model!r})"
        splitter = ThinkSplitter()
        finish: FinishReason = "stop"
        usage: dict[str, Any] | None = None
        answered = False  # the server's headers came: a broken connection now is lost mid-stream
        # Read with aiohttp and plain JSON: per streamed token, the OpenAI SDK over httpx cost
        # about 120 us of the event loop (its typed chunks, built with pydantic, even more),
        # aiohttp 40 us; with 50 raters (100 streams) that was most of the app's work. No retries:
        # a dead endpoint must show its error now, not after three silent attempts.
        try:
            url = f"{self.model.base_url.rstrip('/')}/chat/completions"
            # Leaving the block closes the HTTP response, also when the consumer stops early
            # (Stop, or a cancelled task): an unfinished response's connection is closed, not
            # kept, which makes vLLM abort the request.
            async with self._stream_session() as session, session.post(url, json=body) as response:
                answered = True
                if response.status >= 400:
                    yield ErrorEvent(f"{where} answered HTTP {response.status}: "
                                     f"{_status_detail(await response.text(errors='replace'))}")
                    return
                async for raw in response.content:
                    chunk = _sse_data(raw.decode("utf-8", "replace"))
                    if chunk is None:
                        continue
                    if isinstance(chunk.get("error"), (dict, str)):
                        yield ErrorEvent(f"{where} sent an error while streaming: {_stream_error(chunk['error'])}")
                        return
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = _reasoning_of(delta)
                        if reasoning:
                            yield ReasoningDelta(reasoning)
                        if delta.get("content"):
                            for event in splitter.feed(str(delta["content"])):
                                yield event
                        if choice.get("finish_reason"):
                            finish = "length" if choice["finish_reason"] == "length" else "stop"
            for event in splitter.flush():
                yield event
        except TimeoutError:  # aiohttp's connect and read timeouts are TimeoutErrors too
            yield ErrorEvent(f"Timed out after {self.model.timeout_s:g} s waiting for {where}.")
            return
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: an event line longer than MAX_EVENT_BYTES.
            reason = f"{type(exc).__name__}: {exc}"
            yield ErrorEvent(f"Lost {where} while streaming: {reason}" if answered
                             else f"Cannot reach {where}: {reason}")
            return
        details = (usage or {}).get("prompt_tokens_details") or {}
        yield Done(
            finish_reason=finish,
            output_tokens=_count(usage, "completion_tokens"),
            prompt_tokens=_count(usage, "prompt_tokens"),
            cached_tokens=_count(details, "cached_tokens"),
        )

    # --- counting tokens ---------------------------------------------------------------------

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        body: dict[str, Any] = {"model": self.model.model, "messages": list(messages), "add_generation_prompt": True}
        if params.chat_template_kwargs:
            body["chat_template_kwargs"] = params.chat_template_kwargs
        answer = await self._server("/tokenize", body, "count")
        if answer is not None:
            return int(answer["count"])
        return await self._fallback().count_chat(messages, params.chat_template_kwargs)

    async def encode(self, text: str) -> list[int]:
        body = {"model": self.model.model, "prompt": text, "add_special_tokens": False}
        answer = await self._server("/tokenize", body, "tokens")
        if answer is not None:
            return [int(t) for t in answer["tokens"]]
        return await self._fallback().encode(text)

    async def decode(self, tokens: list[int]) -> str:
        answer = await self._server("/detokenize", {"model": self.model.model, "tokens": tokens}, "prompt")
        if answer is not None:
            return str(answer["prompt"])
        return await self._fallback().decode(tokens)

    async def _server(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any] | None:
        """The server's answer, or None when the fallback tokenizer must answer instead. Raises
        TokenCountUnavailable when the server cannot answer and there is no fallback."""
        if self._tokenize_state == "absent":
            reason = self._tokenize_absent_reason
        else:
            answer, reason = await self._ask(f"{self.root}{path}", body, key)
            if answer is not None:
                return answer
        if self._tokenizer is None:
            raise self._unavailable(reason)
        return None

    async def _ask(self, url: str, body: dict[str, Any], key: str) -> tuple[dict[str, Any] | None, str]:
        """(the answer, "") or (None, why not). A failure of this call only (server down, a timeout,
        a rejected request) is not remembered: the server is asked again next time."""
        try:
            response = await self._http.post(url, json=body)
        except httpx.TimeoutException:
            return None, f"{url} timed out after {self.model.timeout_s:g} s"
        except httpx.HTTPError as exc:
            return None, f"cannot reach {url}: {type(exc).__name__}: {exc}"
        answer = _json_object(response)
        if response.status_code == 200 and answer is not None and key in answer:
            # vLLM's /tokenize always says max_model_len: an answer without it comes from another
            # server's /tokenize (llama.cpp has one, with another request shape) and cannot be
            # trusted for this model. /detokenize answers only {"prompt"}.
            if "max_model_len" in answer or url.endswith("/detokenize"):
                self._tokenize_state = "works"
                return answer, ""
        error = _error_of(answer)
        if response.status_code == 200:
            reason = f"{url} is not vLLM's (it answered {response.text[:200]!r})"
        elif response.status_code in (404, 405, 501) and error.get("param") != "model":
            reason = f"{url} answered HTTP {response.status_code} (no such endpoint)"
        else:
            # Includes vLLM's 404 for an unknown model name: the model may be served later.
            return None, f"{url} answered HTTP {response.status_code}: {error.get('message') or response.text[:300]}"
        # The same on every call: remembered, so later counts go straight to the fallback.
        self._tokenize_state = "absent"
        self._tokenize_absent_reason = reason
        return None, reason

    def _fallback(self) -> LocalTokenizer:
        assert self._tokenizer is not None  # _server returns None only when there is one
        return self._tokenizer

    def _unavailable(self, reason: str) -> TokenCountUnavailable:
        return TokenCountUnavailable(
            f"Cannot count tokens for {self.name!r}: {reason}, and no tokenizer is configured "
            f"(set `tokenizer:` on this model in the config to the model's tokenizer folder)."
        )

    async def context_window(self) -> ContextWindow:
        now = time.monotonic()
        if self._window is not None and now - self._window[0] < WINDOW_CACHE_S:
            return self._window[1]
        configured = ContextWindow(self.model.context_window, "config")
        try:
            response = await self._http.get(f"{self.model.base_url.rstrip('/')}/models", timeout=WINDOW_TIMEOUT_S)
        except httpx.HTTPError:
            return configured  # not cached: the server may be back for the next turn
        answer = _json_object(response)
        window = configured
        entries = answer.get("data") if answer is not None and response.status_code == 200 else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id") == self.model.model:
                length = entry.get("max_model_len")
                if isinstance(length, int) and length > 0:
                    window = ContextWindow(length, "server")
        # A server that answers without max_model_len (OpenAI) will not start giving one: cached too.
        self._window = (now, window)
        return window


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_of(answer: dict[str, Any] | None) -> dict[str, Any]:
    """vLLM's (and OpenAI's) error object, ``{"error": {"message", "param", ...}}``; {} otherwise."""
    error = answer.get("error") if answer is not None else None
    return error if isinstance(error, dict) else {}


def _sse_data(line: str) -> dict[str, Any] | None:
    """The JSON object of one server-sent event line (``data: {...}``), or None for anything else
    (blank lines between events, comments, ``data: [DONE]``)."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data.startswith("{"):
        return None
    try:
        found = json.loads(data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _reasoning_of(delta: dict[str, Any]) -> str | None:
    # vLLM's reasoning parsers send `reasoning_content` (older) or `reasoning` (newer).
    found = delta.get("reasoning_content") or delta.get("reasoning")
    return str(found) if found else None


def _stream_error(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _count(found: dict[str, Any] | None, key: str) -> int | None:
    value = (found or {}).get(key)
    return value if isinstance(value, int) else None


def _status_detail(text: str) -> str:
    """What a server said with its error status: vLLM's and OpenAI's ``{"error": {"message"}}``,
    a ``message`` or ``detail`` field, else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "(no body)"
    if isinstance(body, dict):
        message = _error_of(body).get("message") or body.get("message") or body.get("detail")
        if message:
            return str(message)
    return text.strip()[:300]
