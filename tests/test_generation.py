"""The generation record's metrics follow vLLM's benchmark definitions exactly."""

from __future__ import annotations

import pytest

from playground.core.events import Done, ErrorEvent, ReasoningDelta, TextDelta
from playground.core.generation import Generation


def test_ttft_tpot_itl_throughput() -> None:
    g = Generation("a", "m")
    g.start(now=10.0)
    g.feed(ReasoningDelta("hmm"), now=10.5)  # reasoning counts as content for TTFT
    g.feed(TextDelta("Hello"), now=10.7)
    g.feed(TextDelta(" world"), now=11.0)
    g.feed(Done("stop", output_tokens=6, prompt_tokens=12), now=11.5)
    r = g.record()
    assert r.text == "Hello world" and r.reasoning == "hmm"
    assert r.status == "done" and r.finish_reason == "stop"
    assert r.latency_s == pytest.approx(1.5)
    assert r.ttft_s == pytest.approx(0.5)
    assert r.tpot_s == pytest.approx((1.5 - 0.5) / (6 - 1))
    assert r.itl_s == pytest.approx((0.2, 0.3))
    assert r.tokens_per_s == pytest.approx(6 / 1.5)
    assert r.output_tokens == 6 and r.prompt_tokens == 12


def test_chunks_count_as_tokens_without_usage() -> None:
    g = Generation("b", "m")
    g.start(now=0.0)
    for i in range(4):
        g.feed(TextDelta("x"), now=0.1 * (i + 1))
    g.feed(Done("length"), now=0.5)
    assert g.record().output_tokens == 4


def test_error_keeps_partial_text_and_has_no_stats_crash() -> None:
    g = Generation("a", "m")
    g.start(now=0.0)
    g.feed(TextDelta("part"), now=0.1)
    g.feed(ErrorEvent("boom"), now=0.2)
    r = g.record()
    assert (r.status, r.error, r.text, r.finish_reason) == ("error", "boom", "part", "error")


def test_stop_marks_stopped_once() -> None:
    g = Generation("a", "m")
    g.start(now=0.0)
    g.feed(TextDelta("partial"), now=0.1)
    g.stop(now=0.3)
    assert g.status == "stopped" and g.text == "partial"
    # What the backend sends after Stop (a Done, an error, a late chunk) changes nothing: the
    # rater saw it stop at 0.3 s, and its record says so.
    g.feed(TextDelta(" late"), now=0.5)
    g.feed(Done("stop", output_tokens=9), now=1.0)
    g.feed(ErrorEvent("connection closed"), now=1.1)
    g.stop(now=2.0)  # a second Stop does not move the end either
    r = g.record()
    assert (r.status, r.finish_reason, r.error, r.text) == ("stopped", "stopped", None, "partial")
    assert r.latency_s == pytest.approx(0.3) and r.output_tokens == 1
    done = Generation("b", "m")
    done.start(now=0.0)
    done.feed(Done("stop"), now=0.1)
    done.stop(now=0.2)  # a finished answer is not turned into a stopped one
    assert done.status == "done"


def test_empty_answer_has_no_ttft() -> None:
    g = Generation("a", "m")
    g.start(now=0.0)
    g.feed(Done("stop", output_tokens=0), now=0.2)
    r = g.record()
    assert r.ttft_s is None and r.tpot_s is None and r.tokens_per_s is None
