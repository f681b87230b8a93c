"""A local Hugging Face checkpoint, generated in-process with transformers, streamed token by token.

``generate`` blocks, so it runs in a worker thread; a streamer hands each piece of text to the
event loop with ``call_soon_threadsafe`` (no polling, no added latency). A StoppingCriteria that
reads a threading.Event ends generation within a token of Stop. One model serves one request at a
time: later requests wait their turn on an asyncio.Lock instead of failing or fighting over the
weights.

Tokens are counted with the checkpoint's own tokenizer, loaded on its own (the tokenizer files
only), so a long turn is counted and cut to the window before the weights are loaded, and
counting never waits for a generation to finish.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from playground.backends.base import ContextWindow
from playground.backends.hf_tokenizer import LocalTokenizer
from playground.core.config import TransformersModel
from playground.core.events import (
    BackendEvent,
    ChatMessage,
    Done,
    ErrorEvent,
    FinishReason,
    SamplingParams,
)
from playground.core.reasoning import ThinkSplitter


class TransformersBackend:
    def __init__(self, model: TransformersModel, path: Path) -> None:
        self.name = model.name
        self.config = model
        self.path = path
        self._loaded: tuple[Any, Any] | None = None  # (model, tokenizer)
        self._tokenizer = LocalTokenizer(path, model.name)  # the same tokenizer object generate() uses
        self._load_lock = threading.Lock()
        self._turn = asyncio.Lock()

    async def load(self) -> None:
        """Load the weights once per process, off the event loop."""
        if self._loaded is None:
            await asyncio.to_thread(self._load_sync)

    def _load_sync(self) -> None:
        with self._load_lock:
            if self._loaded is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM

            if self.config.threads:
                torch.set_num_threads(self.config.threads)
            device = self.config.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype: Any = "auto" if self.config.dtype == "auto" else getattr(torch, self.config.dtype)
            tokenizer = self._tokenizer.load_sync()
            model: Any = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype)
            model.to(device)
            model.eval()
            self._loaded = (model, tokenizer)

    def serve_built(self, model: Any) -> Any:
        """Serve a model built in memory (a benchmark's random weights) instead of the
        checkpoint's weights, with the checkpoint's tokenizer as usual (returned)."""
        tokenizer = self._tokenizer.load_sync()
        self._loaded = (model, tokenizer)
        return tokenizer

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        return await self._tokenizer.count_chat(messages, params.chat_template_kwargs)

    async def encode(self, text: str) -> list[int]:
        return await self._tokenizer.encode(text)

    async def decode(self, tokens: list[int]) -> str:
        return await self._tokenizer.decode(tokens)

    async def context_window(self) -> ContextWindow:
        return ContextWindow(self.config.context_window, "config")

    async def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        try:
            await self.load()
        except Exception as exc:  # a broken checkpoint must show in its pane, not crash the app
            yield ErrorEvent(f"Cannot load local model {self.name!r} from {self.path}: {exc}")
            return
        assert self._loaded is not None  # load() succeeded
        model, tokenizer = self._loaded
        try:
            inputs = tokenizer.apply_chat_template(
                list(messages),
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                **params.chat_template_kwargs,
            ).to(model.device)
        except Exception as exc:
            yield ErrorEvent(f"Chat template of {self.name!r} failed: {exc}")
            return
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        room = self.config.context_window - prompt_tokens
        if room <= 0:
            yield ErrorEvent(
                f"The prompt is {prompt_tokens} tokens; {self.name!r} has a context window of "
                f"{self.config.context_window}."
            )
            return
        max_new = min(params.max_tokens, room)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        splitter = ThinkSplitter()
        await self._turn.acquire()
        handed_to_worker = False
        try:
            worker = threading.Thread(
                target=self._generate,
                name=f"generate-{self.name}",
                args=(model, tokenizer, inputs, params, max_new, stop, loop, queue),
                daemon=True,
            )
            worker.start()
            # From here the worker releases the turn when generate() really returns, so a
            # stopped request never overlaps the next one.
            handed_to_worker = True
            while True:
                item = await queue.get()
                if isinstance(item, (Done, ErrorEvent)):
                    for event in splitter.flush():
                        yield event
                    yield item
                    break
                for event in splitter.feed(item):
                    yield event
        finally:
            stop.set()
            if not handed_to_worker:
                self._turn.release()

    def _generate(
        self,
        model: Any,
        tokenizer: Any,
        inputs: Any,
        params: SamplingParams,
        max_new: int,
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
    ) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        def send(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                pass  # the loop is gone (process shutting down): nobody is listening

        class StopOnEvent(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
                )

        result: Done | ErrorEvent
        try:
            sampling: dict[str, Any] = {"do_sample": False}
            if params.temperature > 0:
                sampling = {
                    "do_sample": True,
                    "temperature": params.temperature,
                    "top_p": params.top_p,
                }
            prompt_len = int(inputs["input_ids"].shape[-1])
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new,
                    streamer=_loop_streamer_class()(tokenizer, send),
                    stopping_criteria=StoppingCriteriaList([StopOnEvent()]),
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                    **sampling,
                )
            new_tokens = int(output.shape[-1]) - prompt_len
            finish: FinishReason = "stop"
            if stop.is_set():
                finish = "stopped"
            elif new_tokens >= max_new:
                finish = "length"
            result = Done(finish_reason=finish, output_tokens=new_tokens, prompt_tokens=prompt_len)
        except Exception as exc:
            result = ErrorEvent(f"Local model {self.name!r} failed while generating: {exc}")
        try:
            loop.call_soon_threadsafe(self._end_turn, queue, result)
        except RuntimeError:
            pass  # the loop is gone: nobody is waiting for the turn

    def _end_turn(self, queue: asyncio.Queue[Any], result: Done | ErrorEvent) -> None:
        # One callback: the model is free before the consumer sees the result.
        self._turn.release()
        queue.put_nowait(result)


@functools.cache
def _loop_streamer_class() -> type:
    # Built lazily so that importing this module does not import transformers.
    from transformers import TextStreamer

    class LoopStreamer(TextStreamer):
        """Hands each new piece of text to a callback as soon as its token is generated.

        TextStreamer holds text back until a space ends a word; a model that writes a long run
        without spaces (code, CJK, a random demo model) then streams nothing for seconds and
        bursts. Here a token's text goes out at once, held only while it ends in an incomplete
        multi-byte character.
        """

        def __init__(self, tokenizer: Any, send: Any) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self._send = send

        def put(self, value: Any) -> None:
            if len(value.shape) > 1:
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.tolist())
            text = str(self.tokenizer.decode(self.token_cache, **self.decode_kwargs))
            if text.endswith("\ufffd"):
                return
            self.on_finalized_text(text[self.print_len :])
            if text.endswith("\n"):
                # Decode from a fresh cache after each line, so the work per token stays small.
                self.token_cache = []
                self.print_len = 0
            else:
                self.print_len = len(text)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self._send(text)

    return LoopStreamer
