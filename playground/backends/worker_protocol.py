"""The messages between the app and a local model's worker process: one JSON object a line.

App to worker (its stdin): ``{"op": "stream", "id": N, "messages": [...], "params": {...}}``,
``{"op": "cancel", "id": N}`` (the consumer closed its stream), ``{"op": "in_flight", "id": N}``
and ``{"op": "shutdown"}``; end of input means shutdown too, so a worker never outlives its app.

Worker to app (its stdout): ``{"ready": {...}}`` once the model is loaded (or ``{"fatal": "..."}``
and exit), then ``{"id": N, "event": {...}}`` for each event of request N (its last is a done or
an error event) and ``{"id": N, "in_flight": K}``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from playground.core.events import BackendEvent, Done, ErrorEvent, ReasoningDelta, SamplingParams, TextDelta

_EVENTS: dict[str, type] = {"text": TextDelta, "reasoning": ReasoningDelta, "done": Done, "error": ErrorEvent}


def line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def event_to_json(event: BackendEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


def event_from_json(data: dict[str, Any]) -> BackendEvent:
    kind = data.get("kind")
    cls = _EVENTS.get(str(kind))
    if cls is None:
        return ErrorEvent(f"the worker sent an unknown event {kind!r}")
    event: BackendEvent = cls(**data)
    return event


def params_to_json(params: SamplingParams) -> dict[str, Any]:
    return dataclasses.asdict(params)


def params_from_json(data: dict[str, Any]) -> SamplingParams:
    return SamplingParams(**data)
