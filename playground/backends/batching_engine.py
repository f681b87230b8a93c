"""One local model serving many requests at once with transformers' continuous batching.

transformers' ``ContinuousBatchingManager`` runs a thread that decodes every active request in one
forward pass per step over a paged KV cache, admits new requests between steps and drops a
cancelled one at the next step. Each request's new tokens reach its own callback on the
caller's event loop (``register_result_handler`` uses ``call_soon_threadsafe``): nothing polls,
and nothing waits for another request's answer.

Sampling: the manager decides greedy or sampled decoding once for all its requests (its
generation config's ``do_sample``), but with ``per_request_processors`` each request brings its
own temperature, top-k and top-p. So one manager samples every request, and a greedy request
(temperature 0) asks for top-k 1: a single candidate left, which sampling then picks for certain:
the argmax, as greedy decoding (only an exact tie between two best logits could differ). Greedy
and sampled requests share one batch.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground.backends.hf_import import import_transformers
from playground.core.config import TransformersModel
from playground.core.events import SamplingParams

log = logging.getLogger(__name__)

# The cache when the config does not size it: max_batch full windows, at most this many tokens
# (a 4B model in bfloat16 holds 65,536 tokens in about 9 GiB).
DEFAULT_CACHE_CAP = 65_536


def missing_reason() -> str | None:
    """Why this transformers cannot batch (too old), or None when it can."""
    import_transformers()
    try:
        from transformers import GenerationConfig  # noqa: F401
        from transformers.generation.configuration_utils import ContinuousBatchingConfig  # noqa: F401
        from transformers.generation.continuous_batching.continuous_api import ContinuousBatchingManager
    except ImportError as exc:
        return f"this transformers has no continuous batching ({exc})"
    for method in ("register_result_handler", "cancel_request", "add_request"):
        if not hasattr(ContinuousBatchingManager, method):
            return f"this transformers' ContinuousBatchingManager has no {method}()"
    return None


def cache_tokens(config: TransformersModel) -> int:
    if config.cache_tokens is not None:
        return max(config.cache_tokens, config.context_window)
    wanted = min(config.max_batch * config.context_window, DEFAULT_CACHE_CAP)
    return max(wanted, config.context_window)


@dataclass(frozen=True, slots=True)
class Progress:
    """What a request has generated so far (all its tokens), and whether it ended."""

    tokens: list[int]
    finished: bool
    error: str | None = None


class BatchingEngine:
    """A ContinuousBatchingManager over one loaded model, sized by the model's config."""

    def __init__(self, model: Any, config: TransformersModel) -> None:
        self._model = model
        self._config = config
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._manager: Any = None
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = model.config.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        # The checkpoint's top-k applies to sampled answers, as generate() applies it.
        top_k = getattr(model.generation_config, "top_k", None)
        self._sampling_top_k = int(top_k) if top_k else int(model.config.get_text_config().vocab_size)

    def start(self) -> None:
        """Build and start the manager (blocking: cache allocation, compile when asked)."""
        with self._lock:
            if self._manager is not None and self._healthy(self._manager):
                return
            if self._manager is not None:
                log.warning("The batching engine of %r died (%s); starting a new one",
                            self._config.name, self._manager.background_thread_status.fatal_error)
                self._manager.stop(block=False)
            self._manager = self._build()
            if self._config.compile or self._config.cuda_graphs:
                self._manager.warmup()  # capture graphs / compile before the first rater waits for it
            _start_as_daemon(self._manager)
            _LIVE.add(self)

    def _build(self) -> Any:
        import_transformers()
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        page = 256
        tokens = cache_tokens(self._config)
        # Every processor must exist at creation for requests to set it: a temperature other than 1,
        # a top-k and a top-p under 1 (the values here are only defaults; each request sends its own).
        generation = GenerationConfig(
            do_sample=True, temperature=0.7, top_k=self._sampling_top_k, top_p=0.99,
            eos_token_id=sorted(self.eos_ids) or -1, max_new_tokens=self._config.context_window,
        )
        options: dict[str, Any] = {
            "per_request_processors": True,
            "max_requests_per_batch": self._config.max_batch,
            "page_size": page,
            "num_blocks": math.ceil(tokens / page) + 1,
            # Prefill takes at most a window per step, so a long prompt does not stall the others.
            "max_batch_tokens": min(self._config.context_window, 8192),
            "allow_block_sharing": False,  # stay on the plain path: exact greedy parity with alone
        }
        if self._config.compile:
            options["default_compile_level"] = 1
        if self._config.cuda_graphs is not None:
            options["use_cuda_graph"] = self._config.cuda_graphs
        return self._model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=ContinuousBatchingConfig(**options)
        )

    def running(self) -> bool:
        manager = self._manager
        return manager is not None and self._healthy(manager)

    @staticmethod
    def _healthy(manager: Any) -> bool:
        return bool(manager.is_running() and manager.background_thread_status.fatal_error is None)

    def submit(
        self, input_ids: list[int], max_new: int, params: SamplingParams, on_progress: Callable[[Progress], None]
    ) -> str:
        """Queue a request; ``on_progress`` is called on the running event loop after every step
        that gave it a token, and once at its end. Returns its id, for ``cancel``. Call ``start``
        first (in a thread: it blocks) unless ``running``."""
        manager = self._manager
        if manager is None:
            raise RuntimeError("the batching engine is not started")
        request_id = f"r{next(self._ids)}"
        if params.temperature > 0:
            knobs: dict[str, Any] = {"temperature": float(params.temperature), "top_k": self._sampling_top_k,
                                     "top_p": float(params.top_p)}
        else:
            knobs = {"temperature": 1.0, "top_k": 1, "top_p": 1.0}

        def deliver(output: Any) -> None:
            on_progress(Progress(list(output.generated_tokens), output.is_finished(), output.error))

        # The handler first: a request can finish before add_request returns.
        manager.register_result_handler(request_id, deliver)
        accepted = manager.add_request(
            input_ids, request_id=request_id, max_new_tokens=max_new, streaming=True, **knobs
        )
        if accepted is None:
            self._forget(request_id)
            raise RuntimeError("the batching engine is stopping or stopped")
        return request_id

    def cancel(self, request_id: str) -> None:
        """Drop the request at the engine's next step; no more calls reach its callback."""
        self._forget(request_id)
        if self._manager is not None:
            self._manager.cancel_request(request_id)

    def _forget(self, request_id: str) -> None:
        # The manager forgets a handler only when its request finishes; a cancelled one never does.
        router = getattr(self._manager, "output_router", None)
        handlers = getattr(router, "result_handlers", None)
        if isinstance(handlers, dict):
            with router._lock:  # type: ignore[union-attr]
                handlers.pop(request_id, None)

    def in_flight(self) -> int:
        """Requests the engine still holds (queued, prefilling or decoding)."""
        manager = self._manager
        processor = getattr(manager, "batch_processor", None)
        if manager is None or processor is None:
            return 0
        scheduler = processor.scheduler
        return int(manager.input_queue.qsize() + len(scheduler.active_requests) + len(scheduler.waiting_requests))

    def stop(self) -> None:
        with self._lock:
            if self._manager is not None:
                self._manager.stop(block=True, timeout=5)
                self._manager = None
            _LIVE.discard(self)


# Every engine whose thread runs, held here until stopped (the thread outlives a backend nobody
# closed). At exit the interpreter would tear down torch under a generation thread still inside a
# step ("terminate called without an active exception", SIGABRT instead of a command's exit
# status): whoever forgot to close its backends, the engines are stopped first.
_LIVE: set[BatchingEngine] = set()


@atexit.register
def _stop_live_engines() -> None:
    for engine in list(_LIVE):
        try:
            engine.stop()
        except Exception:  # at exit nothing is left to tell; the next engine still stops
            log.debug("stopping a batching engine at exit failed", exc_info=True)


def _start_as_daemon(manager: Any) -> None:
    """Start the manager's generation thread as a daemon thread.

    The manager starts a plain thread that waits for requests forever; the interpreter joins such
    threads before it exits, so an app stopped with Ctrl-C would hang. A thread inherits the daemon
    flag of the thread that creates it: created from a daemon thread, it never holds up the exit.
    """
    failure: list[BaseException] = []

    def start() -> None:
        try:
            manager.start()
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    starter = threading.Thread(target=start, name="start-batching", daemon=True)
    starter.start()
    starter.join()
    if failure:
        raise failure[0]


async def warm_up(engine: BatchingEngine, input_ids: list[int]) -> None:
    """One short request through the engine: the first one pays for setting up the cache."""
    done = asyncio.get_running_loop().create_future()

    def on_progress(progress: Progress) -> None:
        if progress.finished and not done.done():
            done.set_result(progress)

    await asyncio.to_thread(engine.start)
    engine.submit(input_ids, 2, SamplingParams(temperature=0.0, max_tokens=2), on_progress)
    progress: Progress = await done
    if progress.error:
        raise RuntimeError(progress.error)
