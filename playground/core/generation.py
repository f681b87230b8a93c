"""One side's answer to one prompt: accumulated text and its timing record.

The backend only yields events; this object owns the clock, the buffers and the metrics, the way
``llm``'s ``Response`` does. It is pure and synchronous (the clock is injectable), so the metrics
are tested with plain lists of timed events.

Latency metrics follow vLLM's benchmark and EvalScope perf:

* TTFT: time from the request start to the first content chunk (answer or reasoning);
* TPOT: (latency - TTFT) / (output_tokens - 1);
* ITL: the gaps between consecutive content chunks;
* output throughput: output_tokens / latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.core.events import (
    BackendEvent,
    Done,
    ErrorEvent,
    FinishReason,
    ReasoningDelta,
    TextDelta,
)
from playground.core.vocabulary import Side, Status


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    side: Side
    model: str
    text: str
    reasoning: str
    status: Status
    finish_reason: FinishReason | None
    error: str | None
    latency_s: float | None
    ttft_s: float | None
    tpot_s: float | None
    itl_s: tuple[float, ...]
    output_tokens: int
    prompt_tokens: int | None
    tokens_per_s: float | None
    cached_tokens: int | None = None  # prompt tokens the server took from its prefix cache


@dataclass(slots=True)
class Generation:
    side: Side
    model: str
    clock: Callable[[], float] = time.perf_counter
    text: str = ""
    reasoning: str = ""
    status: Status = "waiting"
    finish_reason: FinishReason | None = None
    error: str | None = None
    output_tokens_reported: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    chunk_times: list[float] = field(default_factory=list)

    def start(self, now: float | None = None) -> None:
        self.started_at = self.clock() if now is None else now
        self.status = "streaming"

    def feed(self, event: BackendEvent, now: float | None = None) -> None:
        if self.status == "stopped":
            # Stop is final: the rater saw the answer end there. What the backend still sends
            # (a late chunk, its Done, the error of a cut stream) would change the text, the
            # status or the end time of an answer that is already on screen and rated as is.
            return
        now = self.clock() if now is None else now
        if self.started_at is None:
            self.start(now)
        match event:
            case TextDelta(text=text) | ReasoningDelta(text=text) if text:
                self.chunk_times.append(now)
                if isinstance(event, TextDelta):
                    self.text += text
                else:
                    self.reasoning += text
            case Done():
                self.finish_reason = event.finish_reason
                self.output_tokens_reported = event.output_tokens
                self.prompt_tokens = event.prompt_tokens
                self.cached_tokens = event.cached_tokens
                self.status = "stopped" if event.finish_reason == "stopped" else "done"
                self.ended_at = now
            case ErrorEvent(message=message):
                self.error = message
                self.finish_reason = "error"
                self.status = "error"
                self.ended_at = now

    def stop(self, now: float | None = None) -> None:
        """The rater pressed Stop: keep the partial text, mark it stopped."""
        if self.status in ("waiting", "streaming"):
            self.status = "stopped"
            self.finish_reason = "stopped"
            self.ended_at = self.clock() if now is None else now

    @property
    def finished(self) -> bool:
        return self.status in ("done", "error", "stopped")

    @property
    def output_tokens(self) -> int:
        # Servers report usage; when one does not, each streamed chunk is about one token.
        if self.output_tokens_reported is not None:
            return self.output_tokens_reported
        return len(self.chunk_times)

    def record(self) -> GenerationRecord:
        latency = ttft = tpot = throughput = None
        if self.started_at is not None and self.ended_at is not None:
            latency = self.ended_at - self.started_at
        if self.started_at is not None and self.chunk_times:
            ttft = self.chunk_times[0] - self.started_at
        tokens = self.output_tokens
        if latency is not None and ttft is not None and tokens > 1:
            tpot = (latency - ttft) / (tokens - 1)
        if latency and tokens:
            throughput = tokens / latency
        gaps = tuple(b - a for a, b in zip(self.chunk_times, self.chunk_times[1:], strict=False))
        return GenerationRecord(
            side=self.side,
            model=self.model,
            text=self.text,
            reasoning=self.reasoning,
            status=self.status,
            finish_reason=self.finish_reason,
            error=self.error,
            latency_s=latency,
            ttft_s=ttft,
            tpot_s=tpot,
            itl_s=gaps,
            output_tokens=tokens,
            prompt_tokens=self.prompt_tokens,
            tokens_per_s=throughput,
            cached_tokens=self.cached_tokens,
        )
