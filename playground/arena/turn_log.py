"""One JSON line per turn on the ``playground.turns`` logger: which replica, which conversation,
which models, and per side how it went (status, timings, token counts, the class of an error).

Never the prompt, the documents, the answer, the reasoning, an error's text (a server may quote
the prompt or the key back in it) or an API key: only numbers, names from the config and fixed
words. A log collector can parse every line as is (``jq``); the app's log format writes these
records as the bare JSON line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from playground.arena.context import ContextPlan
from playground.core.generation import GenerationRecord
from playground.core.replica import replica_name
from playground.core.vocabulary import Side

TURN_LOGGER = "playground.turns"
log = logging.getLogger(TURN_LOGGER)

# The error messages the backends and the duel write (openai_compatible.OpenAICompatibleBackend.stream,
# local_transformers, duel), each reduced to a fixed word: the message itself stays out of the log.
_ERROR_CLASSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Timed out after "), "timeout"),
    (re.compile(r"^Cannot reach "), "connection"),
    (re.compile(r"^Cannot load local model "), "load"),
    (re.compile(r"^Chat template of "), "chat_template"),
    (re.compile(r"failed while generating: "), "generation"),
    (re.compile(r": the stream ended without a result$"), "stream_ended"),
)
_HTTP_STATUS = re.compile(r" answered HTTP (\d{3}): ")
_EXCEPTION = re.compile(r"^[^:]*: ([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception|Unavailable)): ")


def error_class(record: GenerationRecord, plan: ContextPlan | None = None) -> str | None:
    """A fixed word for why a side failed (None when it did not): ``timeout``, ``connection``,
    ``http_404``, ``context_refused``, an exception's class name, or ``other``."""
    if record.status != "error":
        return None
    if plan is not None and plan.refused:
        return "context_refused"
    message = record.error or ""
    status = _HTTP_STATUS.search(message)
    if status:
        return f"http_{status.group(1)}"
    for pattern, word in _ERROR_CLASSES:
        if pattern.search(message):
            return word
    exception = _EXCEPTION.search(message)
    return exception.group(1) if exception else "other"


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def side_fields(record: GenerationRecord, plan: ContextPlan | None = None) -> dict[str, Any]:
    return {
        "model": record.model,
        "status": record.status,
        "finish_reason": record.finish_reason,
        "ttft_s": _rounded(record.ttft_s),
        "total_s": _rounded(record.latency_s),
        # As the server reported them (usage); counted: as the playground counted the prompt it sent.
        "prompt_tokens": record.prompt_tokens,
        "prompt_tokens_counted": plan.sent_tokens if plan is not None else None,
        "cached_tokens": record.cached_tokens,
        "context_window": plan.window if plan is not None else None,
        "truncation": plan.policy if plan is not None and plan.cut else None,
        "output_tokens": record.output_tokens,
        "tokens_per_s": _rounded(record.tokens_per_s, 2),
        "error_class": error_class(record, plan),
    }


def turn_line(
    conversation_id: str,
    records: Mapping[Side, GenerationRecord],
    plans: Mapping[Side, ContextPlan] | None = None,
    replica: str | None = None,
) -> str:
    """The JSON line :func:`log_turn` writes."""
    plans = plans or {}
    line = {
        "event": "turn",
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "replica": replica or replica_name(),
        "conversation_id": conversation_id,
        "models": {side: record.model for side, record in sorted(records.items())},
        "sides": {side: side_fields(record, plans.get(side)) for side, record in sorted(records.items())},
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def log_turn(
    conversation_id: str,
    records: Mapping[Side, GenerationRecord],
    plans: Mapping[Side, ContextPlan] | None = None,
) -> None:
    """Log one finished (or stopped) turn as one JSON line, at INFO on ``playground.turns``."""
    if log.isEnabledFor(logging.INFO):
        log.info("%s", turn_line(conversation_id, records, plans))
