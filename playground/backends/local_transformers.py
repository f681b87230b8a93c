"""A local Hugging Face checkpoint, generated in-process with transformers, streamed token by token.

Concurrent requests are batched (``batching: true``, the default): transformers' continuous
batching decodes every active request in one forward pass per step, in a thread of its own, and
hands each request's new tokens to its stream on the event loop (see batching_engine.py). A
stopped stream cancels only its own request. Where the installed transformers has no continuous
batching, or with ``batching: false``, one request is served at a time: ``generate`` runs in a
worker thread, a streamer hands each piece of text to the event loop with
``call_soon_threadsafe``, a StoppingCriteria that reads a threading.Event ends it within a token
of Stop, and later requests wait their turn on an asyncio.Lock.

Tokens are counted with the checkpoint's own tokenizer, loaded on its own (the tokenizer files
only), so a long turn is counted and cut to the window before the weights are loaded, and
counting never waits for a generation to finish.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from playground.backends.batching_engine import BatchingEngine, Progress, missing_reason, warm_up
from playground.backends.hf_import import import_transformers, model_build_lock
from playground.backends.hf_tokenizer import INLINE_CHARS, LocalCounting, LocalTokenizer
from playground.backends.token_text import IncrementalDecoder
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

log = logging.getLogger(__name__)

RANDOM_WEIGHTS_SEED = 0


class TransformersBackend(LocalCounting):
    def __init__(self, model: TransformersModel, path: Path, random_weights: bool = False) -> None:
        self.name = model.name
        self.config = model
        self.path = path
        # Benchmarks only: the checkpoint's config.json with random weights (no weights files needed).
        self.random_weights = random_weights
        self._loaded: tuple[Any, Any] | None = None  # (model, tokenizer)
        self._tokenizer = LocalTokenizer(path, model.name)  # the same tokenizer object generate() uses
        self._load_lock = threading.Lock()
        self._turn = asyncio.Lock()  # the one-at-a-time path
        self._engine: BatchingEngine | None = None
        self._engine_lock = asyncio.Lock()
        # Why requests are served one at a time (None while batching, or before load() decided).
        self.batching_off: str | None = None if model.batching else "batching: false in the config"

    async def load(self) -> None:
        """Load the weights once per process, off the event loop, and start the batching engine
        (with one short request: the first pays for setting up the cache, not a rater)."""
        if self._loaded is None:
            await asyncio.to_thread(self._load_sync)
        if self.batching_off is None and self._engine is None:
            async with self._engine_lock:
                if self._engine is None and self.batching_off is None:
                    await self._start_engine()

    def _load_sync(self) -> None:
        with self._load_lock:
            if self._loaded is not None:
                return
            import torch

            import_transformers()
            from transformers import AutoConfig, AutoModelForCausalLM

            if self.config.threads:
                torch.set_num_threads(self.config.threads)
            device = self.config.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype: Any = "auto" if self.config.dtype == "auto" else getattr(torch, self.config.dtype)
            tokenizer = self._tokenizer.load_sync()
            model: Any
            if self.random_weights:
                config = AutoConfig.from_pretrained(self.path)
                if dtype == "auto":
                    dtype = getattr(config, "dtype", None) or torch.float32
                    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
                # Initialised where it runs: a 4B model in seconds, not minutes. Drawn from a
                # fixed seed, so that every build of a config is the same model: a benchmark's
                # runs, and a worker's model and an in-process one, answer alike.
                with model_build_lock, torch.device(device):
                    torch.manual_seed(RANDOM_WEIGHTS_SEED)
                    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            else:
                with model_build_lock:
                    model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype)
            model.to(device)
            model.eval()
            self._loaded = (model, tokenizer)

    async def _start_engine(self) -> None:
        reason = missing_reason()
        if reason is not None:
            self.batching_off = reason
            log.warning("%r serves one request at a time: %s", self.name, reason)
            return
        assert self._loaded is not None
        model, tokenizer = self._loaded
        try:
            engine = BatchingEngine(model, self.config)
            await warm_up(engine, list(tokenizer.encode("Hello", add_special_tokens=False)) or [0])
        except Exception as exc:  # a model continuous batching does not support
            self.batching_off = f"continuous batching failed to start: {exc}"
            log.warning("%r serves one request at a time: %s", self.name, self.batching_off)
            return
        self._engine = engine

    def serve_built(self, model: Any) -> Any:
        """Serve a model built in memory (a benchmark's random weights) instead of the
        checkpoint's weights, with the checkpoint's tokenizer as usual (returned)."""
        tokenizer = self._tokenizer.load_sync()
        self._loaded = (model, tokenizer)
        return tokenizer

    async def close(self) -> None:
        """Stop the batching engine's thread (the weights stay loaded)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.to_thread(engine.stop)

    async def in_flight(self) -> int:
        """Requests the model still works on (a stopped one is dropped within a step or so)."""
        if self._engine is not None:
            return self._engine.in_flight()
        return 1 if self._turn.locked() else 0

    async def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        try:
            await self.load()
        except Exception as exc:  # a broken checkpoint must show in its pane, not crash the app
            yield ErrorEvent(f"Cannot load local model {self.name!r} from {self.path}: {exc}")
            return
        assert self._loaded is not None  # load() succeeded
        _, tokenizer = self._loaded
        try:
            ids = await self._prompt_ids(tokenizer, messages, params)
        except Exception as exc:
            yield ErrorEvent(f"Chat template of {self.name!r} failed: {exc}")
            return
        room = self.config.context_window - len(ids)
        if room <= 0:
            yield ErrorEvent(
                f"The prompt is {len(ids)} tokens; {self.name!r} has a context window of "
                f"{self.config.context_window}."
            )
            return
        max_new = min(params.max_tokens, room)
        events = self._batched(ids, max_new, params) if self._engine is not None else self._alone(ids, max_new, params)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def _prompt_ids(self, tokenizer: Any, messages: list[ChatMessage], params: SamplingParams) -> list[int]:
        def apply() -> list[int]:
            encoded = tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, tokenize=True, return_dict=True,
                **params.chat_template_kwargs,
            )
            return [int(i) for i in encoded["input_ids"]]

        # A long document takes a while to tokenize: not on the event loop, where the other side streams.
        if sum(len(m["content"]) for m in messages) > INLINE_CHARS:
            return await asyncio.to_thread(apply)
        return apply()

    # --- batched: continuous batching ------------------------------------------------------

    async def _batched(
        self, ids: list[int], max_new: int, params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        engine = self._engine
        assert engine is not None and self._loaded is not None
        queue: asyncio.Queue[Progress] = asyncio.Queue()
        decoder = IncrementalDecoder(self._loaded[1])
        splitter = ThinkSplitter()
        try:
            if not engine.running():  # its thread died: a new one (blocking, so in a thread)
                await asyncio.to_thread(engine.start)
            request_id = engine.submit(ids, max_new, params, queue.put_nowait)
        except Exception as exc:
            yield ErrorEvent(f"Local model {self.name!r} failed while generating: {exc}")
            return
        ended = False
        seen = 0
        try:
            while True:
                progress = await queue.get()
                new, seen = progress.tokens[seen:], len(progress.tokens)
                text = decoder.push(new) if new else ""
                if text:
                    for event in splitter.feed(text):
                        yield event
                if progress.error is not None or progress.finished:
                    ended = True
                    for event in splitter.flush():
                        yield event
                    if progress.error is not None:
                        yield ErrorEvent(f"Local model {self.name!r} failed while generating: {progress.error}")
                    else:
                        yield Done(self._finish(progress.tokens, max_new, engine.eos_ids),
                                   output_tokens=len(progress.tokens), prompt_tokens=len(ids))
                    return
        finally:
            if not ended:  # Stop: only this request leaves the batch
                engine.cancel(request_id)

    @staticmethod
    def _finish(tokens: list[int], max_new: int, eos_ids: set[int]) -> FinishReason:
        if tokens and tokens[-1] in eos_ids:
            return "stop"
        return "length" if len(tokens) >= max_new else "stop"

    # --- one at a time: generate() in a thread ----------------------------------------------

    async def _alone(
        self, ids: list[int], max_new: int, params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        import torch

        assert self._loaded is not None
        model, tokenizer = self._loaded
        input_ids = torch.tensor([ids], device=model.device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
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

        import_transformers()
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
            if self.config.compile:
                sampling["cache_implementation"] = "static"  # generate() compiles the forward for it
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
    import_transformers()
    from transformers import TextStreamer

    class LoopStreamer(TextStreamer):
        """Hands each new piece of text to a callback as soon as its token is generated.

        TextStreamer holds text back until a space ends a word; a model that writes a long run
        without spaces (code, CJK, a random demo model) then streams nothing for seconds and
        bursts. Here a token's text goes out at once, held only while it ends in an incomplete
        multi-byte character (token_text.py does the decoding, a few tokens at a time).
        """

        def __init__(self, tokenizer: Any, send: Any) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self._send = send
            self._decoder = IncrementalDecoder(tokenizer)

        def put(self, value: Any) -> None:
            if len(value.shape) > 1:
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            text = self._decoder.push([int(t) for t in value.tolist()])
            if text:
                self._send(text)

        def end(self) -> None:
            pass  # every token's text went out in put()

    return LoopStreamer
