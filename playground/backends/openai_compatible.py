"""Any server that speaks OpenAI's ``/v1/chat/completions`` with streaming (vLLM above all)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

import openai

# openai imports its streaming helpers lazily, on the first streamed response, which blocked the
# event loop for over a second in the middle of the first duel (seen with py-spy). Pay it here.
import openai.lib.streaming.chat  # noqa: E402,F401
from openai.types.chat import ChatCompletionMessageParam

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


class OpenAICompatibleBackend:
    def __init__(self, model: OpenAIModel) -> None:
        self.name = model.name
        self.model = model
        # No retries: a dead endpoint must show its error now, not after three silent attempts.
        self._client = openai.AsyncOpenAI(
            base_url=model.base_url,
            api_key=model.api_key() or "EMPTY",
            timeout=model.timeout_s,
            max_retries=0,
        )

    async def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        extra_body: dict[str, Any] = {}
        if params.chat_template_kwargs:
            # vLLM passes these to the chat template (e.g. Qwen3's enable_thinking).
            extra_body["chat_template_kwargs"] = params.chat_template_kwargs
        splitter = ThinkSplitter()
        finish: FinishReason = "stop"
        usage = None
        try:
            stream = await self._client.chat.completions.create(
                model=self.model.model,
                messages=cast("list[ChatCompletionMessageParam]", list(messages)),
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                seed=params.seed,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra_body or None,
            )
            # `async with` closes the HTTP response when the consumer stops early (Stop, or a
            # cancelled task), which makes vLLM abort the request instead of finishing it.
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices:
                        delta = choice.delta
                        reasoning = _reasoning_of(delta)
                        if reasoning:
                            yield ReasoningDelta(reasoning)
                        if delta.content:
                            for event in splitter.feed(delta.content):
                                yield event
                        if choice.finish_reason:
                            finish = "length" if choice.finish_reason == "length" else "stop"
            for event in splitter.flush():
                yield event
        except openai.APIError as exc:
            yield ErrorEvent(describe_api_error(exc, self.model))
            return
        yield Done(
            finish_reason=finish,
            output_tokens=usage.completion_tokens if usage else None,
            prompt_tokens=usage.prompt_tokens if usage else None,
        )


def _reasoning_of(delta: Any) -> str | None:
    # vLLM's reasoning parsers send `reasoning_content` (older) or `reasoning` (newer); neither
    # is in openai's typed model, so they arrive as extra fields.
    extra = getattr(delta, "model_extra", None) or {}
    return extra.get("reasoning_content") or extra.get("reasoning")


def describe_api_error(exc: openai.APIError, model: OpenAIModel) -> str:
    """A sentence a rater understands: which URL, which model, what went wrong."""
    where = f"{model.base_url} (model {model.model!r})"
    if isinstance(exc, openai.APITimeoutError):
        return f"Timed out after {model.timeout_s:g} s waiting for {where}."
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return f"Cannot reach {where}: {reason}"
    if isinstance(exc, openai.APIStatusError):
        detail = _server_message(exc)
        return f"{where} answered HTTP {exc.status_code}: {detail}"
    return f"Error from {where}: {exc}"


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return exc.message
