"""``python -m playground.backends.transformers_worker``: a local model in a process of its own.

Hosts a :class:`TransformersBackend` (batching, as configured) and serves the requests the app
sends over stdin, several at once, each streamed back over stdout tagged with its id (the
messages are in worker_protocol.py). The app's process then spends no GIL time on the model:
two local models, or a local model and a busy app, run in parallel.

It exits when its stdin ends (the app closed it, or died), so it never outlives the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from playground.backends.local_transformers import TransformersBackend
from playground.backends.worker_protocol import event_to_json, line, params_from_json
from playground.core.config import TransformersModel
from playground.core.gc_pauses import freeze_startup_objects


class Worker:
    def __init__(self, backend: TransformersBackend, out: BinaryIO) -> None:
        self.backend = backend
        self._out = out
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(line(message))
        self._out.flush()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 30)  # a prompt can be a long document
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            raw = await reader.readline()
            if not raw:
                break  # the app is gone: stop
            message = json.loads(raw)
            op = message.get("op")
            if op == "shutdown":
                break
            if op == "stream":
                rid = int(message["id"])
                self._tasks[rid] = asyncio.create_task(self._stream(rid, message))
            elif op == "cancel":
                task = self._tasks.get(int(message["id"]))
                if task is not None:
                    task.cancel()  # closes that request's stream: it leaves the batch
            elif op == "in_flight":
                self.send({"id": message["id"], "in_flight": await self.backend.in_flight()})
        for task in list(self._tasks.values()):
            task.cancel()
        await self.backend.close()

    async def _stream(self, rid: int, message: dict[str, Any]) -> None:
        stream = self.backend.stream(message["messages"], params_from_json(message["params"]))
        try:
            async for event in stream:
                self.send({"id": rid, "event": event_to_json(event)})
        except asyncio.CancelledError:
            pass
        finally:
            await stream.aclose()
            self._tasks.pop(rid, None)


async def run(args: argparse.Namespace, out: BinaryIO) -> int:
    model = TransformersModel.model_validate({**json.loads(args.model), "process": "app"})
    backend = TransformersBackend(model, Path(args.path), random_weights=args.random_weights)
    worker = Worker(backend, out)
    try:
        await backend.load()
    except Exception as exc:
        worker.send({"fatal": f"Cannot load local model {model.name!r} from {args.path}: {exc}"})
        return 1
    # The weights' modules, torch and transformers live as long as the worker: a full collection
    # that walks them would stall every stream of this model.
    freeze_startup_objects()
    worker.send({"ready": {"pid": os.getpid(), "batching_off": backend.batching_off}})
    await worker.serve()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the model's config entry, as JSON")
    parser.add_argument("--path", required=True, help="the checkpoint folder")
    parser.add_argument("--random-weights", action="store_true",
                        help="benchmarks: random weights from the checkpoint's config.json")
    args = parser.parse_args(argv)
    # stdout is the protocol: keep it for that, and send whatever a library prints to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    code = asyncio.run(run(args, out))
    # The engine's thread is stopped; exit now rather than wait on any other library thread.
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
