"""A synthetic OpenAI-compatible model server: a fixed markdown answer streamed at a set rate.

For loads the CPU demo models cannot feed (50 raters at once on two cores), ``playground bench
load --models synthetic`` puts this behind both panes instead: the app, the websocket, the
redraws and the database do all their real work, only the tokens are made up, and the benchmark
says so in its output. It speaks what the app's OpenAI backend uses: ``GET /v1/models`` (with
vLLM's ``max_model_len``) and streamed ``POST /v1/chat/completions`` (SSE chunks, a final chunk
with ``usage`` when ``stream_options.include_usage`` asks for it). It has no ``/tokenize``: the
app counts with the ``tokenizer:`` its config names, as for any server but vLLM.

Each stream sends ``rate`` tokens a second (one token: a word or the space and punctuation around
it, about four characters) of a markdown answer with a heading, a list, a table and a code fence,
so that the panes' markdown rendering is exercised as by a real model.

Run: ``python -m playground.devtools.synthetic_openai --port 8011 --rate 40``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SERVED_NAME = "synthetic"
WINDOW = 32_768
TICK_S = 0.02  # tokens that fall due are sent together every tick: timers are not finer than that

ANSWER = """## A short answer

Here is what the question asks for, in three steps:

1. Read the prompt **carefully** and note what it *really* asks.
2. Work it out, checking each step against the facts.
3. Answer in a sentence or two, then show the working.

| step | time | notes |
|------|------|-------|
| read | 2 s | the prompt and its constraints |
| work | 5 s | one line at a time |

```python
def answer(question: str) -> str:
    # The simplest thing that could work.
    words = question.split()
    return " ".join(reversed(words))
```

That is all: the function above reverses the words, and the table says how long each step took.
"""

TOKENS = re.findall(r"\s*\S+|\s+", ANSWER)  # each word with the white space before it


def pieces(count: int) -> list[str]:
    """The first ``count`` tokens of the answer, repeated as often as needed."""
    return [TOKENS[n % len(TOKENS)] for n in range(count)]


def _chunk(request_id: str, created: int, delta: dict[str, Any], finish: str | None = None,
           usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": request_id, "object": "chat.completion.chunk", "created": created,
                            "model": SERVED_NAME,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else []}
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def build_app(rate: float, served_name: str = SERVED_NAME) -> Starlette:
    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": served_name, "object": "model", "owned_by": "synthetic", "max_model_len": WINDOW}]})

    async def completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": {"message": "the body is not JSON"}}, status_code=400)
        if body.get("model") != served_name:
            return JSONResponse({"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                           "param": "model"}}, status_code=404)
        count = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 + 4 for m in body.get("messages", []))
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if not body.get("stream"):
            text = "".join(pieces(count))
            return JSONResponse({"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                                 "model": served_name, "choices": [{"index": 0, "finish_reason": "length",
                                 "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": count,
                                           "total_tokens": prompt_tokens + count}})
        return StreamingResponse(_stream(count, prompt_tokens, usage), media_type="text/event-stream")

    async def _stream(count: int, prompt_tokens: int, usage: bool) -> AsyncIterator[str]:
        request_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        yield _chunk(request_id, created, {"role": "assistant", "content": ""})
        tokens = pieces(count)
        start, sent = time.perf_counter(), 0
        while sent < count:
            await asyncio.sleep(TICK_S)
            due = min(count, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                yield _chunk(request_id, created, {"content": tokens[sent]})
                sent += 1
        yield _chunk(request_id, created, {}, finish="length")
        if usage:
            yield _chunk(request_id, created, {}, usage={"prompt_tokens": prompt_tokens, "completion_tokens": count,
                                                           "total_tokens": prompt_tokens + count})
        yield "data: [DONE]\n\n"

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", completions, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second per stream")
    parser.add_argument("--served-name", default=SERVED_NAME)
    args = parser.parse_args()
    uvicorn.run(build_app(args.rate, args.served_name), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
