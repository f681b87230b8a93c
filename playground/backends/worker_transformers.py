"""A local transformers model served by a worker process of its own (``process: worker``).

The app keeps only the checkpoint's tokenizer (counting, encode, decode and the window are
cheap and never wait for the worker); ``stream`` goes to the worker, which batches concurrent
requests as the in-process backend does. The model's work then never holds the app's GIL.

Threads, not the event loop, talk to the child: a reader thread hands each line to the stream
it belongs to with ``call_soon_threadsafe`` (on that stream's own loop) and a writer thread
writes requests, so a long prompt never blocks the loop on a full pipe. A worker that dies ends
its streams with an ErrorEvent; the next request starts a new one. The child exits when its
stdin closes: on ``close()``, at the app's exit, and when the app dies.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from playground.backends.hf_tokenizer import LocalCounting, LocalTokenizer
from playground.backends.worker_protocol import event_from_json, line, params_to_json
from playground.core.config import TransformersModel
from playground.core.events import BackendEvent, ChatMessage, Done, ErrorEvent, SamplingParams

log = logging.getLogger(__name__)

# After asking a worker to shut down, how long it may take before it is killed.
SHUTDOWN_GRACE_S = 10.0


class _Child:
    """One running worker process and the threads that talk to it."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_env())
        self.ready: asyncio.Future[dict[str, Any]] | None = None
        self.ready_loop: asyncio.AbstractEventLoop | None = None
        self.dead: str | None = None  # why it is no longer usable
        self._routes: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._routes_lock = threading.Lock()
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"worker-read-{name}", daemon=True).start()
        threading.Thread(target=self._write, name=f"worker-write-{name}", daemon=True).start()

    def route(self, rid: int, handler: Callable[[dict[str, Any]], None] | None) -> None:
        """Messages tagged ``rid`` go to ``handler`` (called in the reader thread); None: no more."""
        with self._routes_lock:
            if handler is None:
                self._routes.pop(rid, None)
            else:
                self._routes[rid] = handler

    def send(self, message: dict[str, Any]) -> None:
        self._outbox.put(line(message))

    def _write(self) -> None:
        assert self.process.stdin is not None
        while (data := self._outbox.get()) is not None:
            try:
                self.process.stdin.write(data)
                self.process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return  # it died: the reader reports that
        try:
            self.process.stdin.close()  # end of input: the worker shuts down
        except (BrokenPipeError, OSError):
            pass

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("worker of %r wrote a line that is not JSON: %r", self.name, raw[:200])
                continue
            if "ready" in message or "fatal" in message:
                self._resolve_ready(message)
                continue
            with self._routes_lock:
                handler = self._routes.get(int(message.get("id", -1)))
            if handler is not None:
                handler(message)
        code = self.process.wait()
        self.dead = f"the worker process of {self.name!r} exited (code {code})"
        self._resolve_ready({"fatal": self.dead})
        with self._routes_lock:
            handlers = list(self._routes.values())
            self._routes.clear()
        for handler in handlers:
            handler({"event": {"kind": "error", "message": self.dead + " while answering"}})

    def _resolve_ready(self, message: dict[str, Any]) -> None:
        future, loop = self.ready, self.ready_loop
        if future is None or loop is None:
            return

        def settle() -> None:
            if not future.done():
                future.set_result(message)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # that loop is closed

    def close(self, wait: bool = True) -> None:
        """Ask it to stop (end of its input); kill it if it has not within the grace time."""
        self._outbox.put(None)
        if not wait:
            return
        try:
            self.process.wait(timeout=SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child imports this package the way the app did, installed or from a checkout.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


_LIVE: set[_Child] = set()


@atexit.register
def _stop_children() -> None:
    # Close their input here, not through the writer threads: daemon threads may not run any more.
    for child in list(_LIVE):
        try:
            if child.process.stdin is not None:
                child.process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
    for child in list(_LIVE):
        try:
            child.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            child.kill()


class WorkerTransformersBackend(LocalCounting):
    def __init__(self, model: TransformersModel, path: Path, random_weights: bool = False) -> None:
        self.name = model.name
        self.config = model
        self.path = path
        self.random_weights = random_weights
        self._tokenizer = LocalTokenizer(path, model.name)
        self._child: _Child | None = None
        self._start_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.batching_off: str | None = None  # as the worker's backend reports it when ready

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before the first request or load())."""
        child = self._child
        return child.process.pid if child is not None and child.dead is None else None

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "playground.backends.transformers_worker",
                "--model", self.config.model_dump_json(), "--path", str(self.path)]
        return argv + (["--random-weights"] if self.random_weights else [])

    async def load(self) -> None:
        """Start the worker and wait until its model is loaded (raises when it cannot be)."""
        child = await self._ready_child()
        if isinstance(child, str):
            raise RuntimeError(child)

    async def _ready_child(self) -> _Child | str:
        """A worker that has loaded its model, started if none runs; or why there is none."""
        with self._start_lock:
            child = self._child
            if child is None or child.dead is not None or child.process.poll() is not None:
                if child is not None:
                    _LIVE.discard(child)
                    log.warning("restarting the worker of %r: %s", self.name, child.dead or "it exited")
                child = _Child(self.name, self._argv())
                child.ready_loop = asyncio.get_running_loop()
                child.ready = child.ready_loop.create_future()
                self._child = child
                _LIVE.add(child)
        assert child.ready is not None
        # Once settled, read it directly: a later caller may run on another event loop.
        message = child.ready.result() if child.ready.done() else await asyncio.shield(child.ready)
        if "fatal" in message:
            with self._start_lock:
                if self._child is child:
                    self._child = None
            _LIVE.discard(child)
            child.kill()
            return str(message["fatal"])
        self.batching_off = message["ready"].get("batching_off")
        return child

    async def close(self) -> None:
        """Stop the worker process (the next request would start a new one)."""
        with self._start_lock:
            child, self._child = self._child, None
        if child is not None:
            _LIVE.discard(child)
            await asyncio.to_thread(child.close)

    async def in_flight(self) -> int:
        """Requests the worker's model still works on (0 when no worker runs)."""
        child = self._child
        if child is None or child.dead is not None:
            return 0
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        rid = next(self._ids)

        def settle(count: int) -> None:
            if not answer.done():
                answer.set_result(count)

        def on_message(message: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(settle, int(message.get("in_flight", 0)))

        child.route(rid, on_message)
        child.send({"op": "in_flight", "id": rid})
        try:
            return await asyncio.wait_for(answer, timeout=10)
        finally:
            child.route(rid, None)

    async def stream(
        self, messages: list[ChatMessage], params: SamplingParams
    ) -> AsyncGenerator[BackendEvent, None]:
        try:
            child = await self._ready_child()
        except Exception as exc:
            yield ErrorEvent(f"Cannot start the worker process of {self.name!r}: {exc}")
            return
        if isinstance(child, str):
            yield ErrorEvent(child)
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[BackendEvent] = asyncio.Queue()
        rid = next(self._ids)

        def on_message(message: dict[str, Any]) -> None:
            event = event_from_json(message["event"])
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:
                pass  # that loop is closed: nobody reads this stream

        child.route(rid, on_message)
        ended = False
        try:
            child.send({"op": "stream", "id": rid, "messages": [dict(m) for m in messages],
                        "params": params_to_json(params)})
            while True:
                event = await events.get()
                yield event
                if isinstance(event, (Done, ErrorEvent)):
                    ended = True
                    return
        finally:
            child.route(rid, None)
            if not ended and child.dead is None:
                child.send({"op": "cancel", "id": rid})
