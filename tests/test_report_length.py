"""Long-context figures on stored turns, on real SQLite and a real PostgreSQL server: latency against
prompt length, the prefix cache, the leaderboard by prompt length (and its filter), the plot, and
exports that carry each turn's documents and each side's context budget.

Everything is stored as the app stores it: documents by save_document, turns by save_turn with
each side's context budget (StoredContext), its cached tokens and the turn's document ids, votes
by submit_rating.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from playground.core.vocabulary import Side
from playground.evalsets.documents import render_documents
from playground.output.export import CONTEXT_FIELDS, CSV_COLUMNS, export
from playground.output.html_page import render_html
from playground.output.plots import all_plots, latency_against_length
from playground.output.tables import report_tables
from playground.stats.length import MAX_POINTS, MIN_RATED_VOTES, latency_by_length
from playground.stats.report import build_report, summarize
from playground.store.database import Database
from playground.store.documents import DocumentText, save_document
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.records import StoredContext, ensure_conversation, save_turn
from playground.store.report_filters import Filters, length_bucket
from playground.store.report_queries import PromptTiming, collect

from .store_helpers import record, submission
from .test_cli_store import playground

EVERY_VOTE = Filters(blind_only=False)
FASTCHAT_FIELDS = {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a",
                   "conversation_b", "turn", "anony", "language", "tstamp", "conv_metadata"}


@dataclass(frozen=True)
class SideFigures:
    """What one side's answer is stored with."""

    prompt_tokens: int | None = 12  # as the server reported it
    ttft_s: float | None = 0.1
    status: str = "done"
    cached_tokens: int | None = None
    budget: StoredContext | None = None


async def store_turn(
    db: Database, conversation: str, models: tuple[str, str], a: SideFigures, b: SideFigures,
    *, prompt: str = "What does it say?", rater_id: int | None = None, winner: str | None = None,
    documents: tuple[DocumentText, ...] = (),
) -> int:
    """A turn stored as the app stores it (its documents first), rated when ``winner`` is given."""
    sides: dict[Side, SideFigures] = {"a": a, "b": b}
    records = {side: replace(record(side, model, status=figures.status, text=f"{model} answers"),
                             prompt_tokens=figures.prompt_tokens, ttft_s=figures.ttft_s,
                             cached_tokens=figures.cached_tokens)
               for (side, figures), model in zip(sides.items(), models, strict=True)}
    for document in documents:
        await save_document(db, document)
    turn = await save_turn(
        db, conversation, prompt=prompt, system_prompt="", settings={}, records=records, sampling={},
        message_id=None, contexts={side: f.budget for side, f in sides.items() if f.budget is not None},
        document_ids=[document.id for document in documents],
    )
    assert turn.id is not None
    if winner is not None:
        assert rater_id is not None
        await submit_rating(db, rater_id, submission(turn.id, winner))
    return turn.id


async def conversation_of(db: Database, rater: str, models: tuple[str, str]) -> tuple[int, str]:
    account = await add_rater(db, rater, f"pw-{rater}-123")
    assert account.id is not None
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, account.id, blind=True, model_a=models[0], model_b=models[1])
    return account.id, conversation


def tokens(count: int | None) -> SideFigures:
    return SideFigures(prompt_tokens=count)


def sent(reported: int, sent_tokens: int) -> SideFigures:
    """A side whose documents were cut: ``sent_tokens`` sent, the server counted ``reported``."""
    return SideFigures(prompt_tokens=reported,
                       budget=StoredContext("head", 65_536, 150_000, sent_tokens, "Kept the first part (head)."))


# --- the leaderboard by prompt length ----------------------------------------------------------


def test_a_prompt_falls_in_its_bucket_at_the_bounds() -> None:
    # K is 1024, as context windows are counted: a prompt filling an 8K window is not short.
    assert [length_bucket(n) for n in (0, 8191, 8192, 32767, 32768, 131071, 131072, 10**7, None)] == [
        "<8K", "<8K", "8-32K", "8-32K", "32-128K", "32-128K", ">128K", ">128K", "unknown"]


@pytest.fixture
async def votes_by_length(db: Database) -> Database:
    """alpha beats beta on short prompts (18 of 24), beta beats alpha on long ones (3 of 4)."""
    rater, conversation = await conversation_of(db, "ana", ("alpha", "beta"))
    models = ("alpha", "beta")
    for i in range(24):
        await store_turn(db, conversation, models, tokens(500 + i), tokens(700), rater_id=rater,
                         winner="model_a" if i % 4 else "model_b")
    # The bucket is the larger side's: 30K on the left, 40K on the right is a 32-128K turn.
    await store_turn(db, conversation, models, tokens(30_000), tokens(40_000), rater_id=rater, winner="model_b")
    # What was sent counts before what the server reported (here made to disagree): 60K sent.
    await store_turn(db, conversation, models, sent(150_000, 60_000), tokens(20_000), rater_id=rater,
                     winner="model_b")
    await store_turn(db, conversation, models, tokens(100_000), tokens(None), rater_id=rater, winner="model_b")
    await store_turn(db, conversation, models, tokens(33_000), tokens(33_000), rater_id=rater, winner="model_a")
    await store_turn(db, conversation, models, tokens(140_000), tokens(None), rater_id=rater, winner="tie")
    await store_turn(db, conversation, models, tokens(8192), tokens(100), rater_id=rater, winner="model_a")
    for _ in range(2):  # neither side has a count
        await store_turn(db, conversation, models, tokens(None), tokens(None), rater_id=rater, winner="model_a")
    return db


async def test_the_votes_are_split_by_the_turns_prompt_length(votes_by_length: Database) -> None:
    report = await build_report(votes_by_length, EVERY_VOTE)
    boards = report.leaderboard_by_length
    assert list(boards) == ["<8K", "8-32K", "32-128K", ">128K", "unknown"]  # bucket order, not sorted
    assert {name: b.votes for name, b in boards.items()} == {"<8K": 24, "8-32K": 1, "32-128K": 4, ">128K": 1,
                                                             "unknown": 2}
    assert sum(b.votes for b in boards.values()) == report.votes == 32
    short = boards["<8K"]
    assert short.votes >= MIN_RATED_VOTES and [r.model for r in short.bradley_terry] == ["alpha", "beta"]
    assert (short.win_rates["alpha"].wins, short.win_rates["alpha"].n) == (18, 24)
    long = boards["32-128K"]
    assert long.bradley_terry == []  # too few votes for a rating: win rates only
    assert (long.win_rates["beta"].wins, long.win_rates["beta"].n) == (3, 4)
    assert boards[">128K"].ties == 1 and boards[">128K"].win_rates["alpha"].n == 0
    rows = next(t for t in report_tables(report) if t.title.startswith("Leaderboard by prompt length")).rows
    beta_long = next(row for row in rows if row[:3] == ["32-128K", "4", "beta"])
    assert beta_long[3] == "-" and beta_long[5] == "3/4"  # no rating, the win counts
    assert [row[0] for row in rows] == ["<8K", "<8K", "8-32K", "8-32K", "32-128K", "32-128K", ">128K", ">128K",
                                        "unknown", "unknown"]


async def test_one_bucket_alone_is_the_leaderboard_itself(votes_by_length: Database) -> None:
    report = await build_report(votes_by_length, Filters(blind_only=False, length_buckets=("<8K",)))
    assert list(report.leaderboard_by_length) == ["<8K"] and report.votes == 24
    assert report.leaderboard_by_length["<8K"].bradley_terry == report.bradley_terry
    # Its table would repeat the leaderboard: left out.
    assert not any(t.title.startswith("Leaderboard by prompt length") for t in report_tables(report))
    assert report.filters_text.endswith(" · until: - · prompt length: <8K")


async def test_the_length_filter_keeps_the_turns_of_those_buckets(votes_by_length: Database) -> None:
    async def votes(*buckets: str) -> int:
        return (await build_report(votes_by_length, Filters(blind_only=False, length_buckets=buckets))).votes

    # SQL and the split agree at the bounds (8192 is 8-32K) and on "sent before reported".
    assert await votes("32-128K") == 4 and await votes(">128K") == 1 and await votes("8-32K") == 1
    assert await votes("unknown") == 2 and await votes("<8K", "unknown") == 26
    buf = io.StringIO()
    await export(votes_by_length, "fastchat", buf, Filters(blind_only=False, length_buckets=("32-128K",)))
    assert sorted(json.loads(line)["winner"] for line in buf.getvalue().splitlines()) == [
        "model_a", "model_b", "model_b", "model_b"]
    with pytest.raises(ValueError, match="not a length bucket: 9K"):
        Filters(length_buckets=("9K",))


# --- latency against length, the prefix cache and the plot --------------------------------------


@pytest.fixture
async def answers_by_length(db: Database) -> Database:
    """fast and slow answer prompts of 1K, 10K and 50K tokens; fast's server reports cached tokens
    (a second question on the same 10K document hit the cache), slow's does not."""
    _, conversation = await conversation_of(db, "ana", ("fast", "slow"))
    models = ("fast", "slow")
    for count, fast, slow in ((1000, 0.1, 0.2), (10_000, 0.5, 2.0), (50_000, 2.0, 10.0)):
        await store_turn(db, conversation, models, SideFigures(count, fast, cached_tokens=0),
                         SideFigures(count, slow))
    await store_turn(db, conversation, models, SideFigures(10_000, 0.05, cached_tokens=9000),
                     SideFigures(10_000, 1.0))
    # Not complete, or without a TTFT or a count: not a point.
    await store_turn(db, conversation, models, SideFigures(5000, 9.0, status="error"),
                     SideFigures(5000, 9.0, status="stopped"))
    await store_turn(db, conversation, models, SideFigures(5000, None), SideFigures(None, 9.0))
    return db


async def test_ttft_and_prefill_throughput_against_prompt_length(answers_by_length: Database) -> None:
    report = await build_report(answers_by_length, Filters())
    fast, slow = report.latency_by_length["fast"], report.latency_by_length["slow"]
    assert fast.answers == slow.answers == 4 and not fast.points_sampled
    assert [(p.prompt_tokens, p.ttft_s) for p in slow.points] == [(1000, 0.2), (10_000, 1.0), (10_000, 2.0),
                                                                  (50_000, 10.0)]
    assert [p.prefill_tokens_per_s for p in slow.points] == pytest.approx([5000, 10_000, 5000, 5000])
    assert [(b.bucket, b.answers) for b in slow.bins] == [("<8K", 1), ("8-32K", 2), ("32-128K", 1)]
    assert slow.bins[1].ttft_s == pytest.approx(1.5) and slow.bins[1].prefill_tokens_per_s == pytest.approx(7500)
    # The cache: 9,000 of fast's 71,000 prompt tokens, all on the second 10K question, which came sooner.
    cache = fast.prefix_cache
    assert cache is not None and slow.prefix_cache is None
    assert (cache.answers, cache.hits) == (4, 1)
    assert cache.cached_share == pytest.approx(9000 / (1000 + 10_000 + 50_000 + 10_000))
    assert (cache.ttft_s_hit, cache.ttft_s_miss) == (0.05, 0.5)
    tables = {t.title: t for t in report_tables(report)}
    assert tables["Prefix cache (answers whose server reported cached prompt tokens)"].rows == [
        ["fast", "4", "1", "13%", "0.050", "0.500"]]
    by_length = tables["Latency by prompt length (medians of complete answers)"].rows
    assert ["slow", "8-32K", "2", "10,000", "1.500", "7500"] in by_length


def test_points_are_capped_as_an_even_sample_that_keeps_both_ends() -> None:
    rows = [PromptTiming("m", 100 + i, 0.01 * (i + 1), None) for i in range(MAX_POINTS * 3 + 7)]
    figures = latency_by_length(rows)["m"]
    assert figures.answers == len(rows) and figures.points_sampled and len(figures.points) == MAX_POINTS
    assert (figures.points[0].prompt_tokens, figures.points[-1].prompt_tokens) == (100, 100 + len(rows) - 1)
    assert figures.bins[0].answers == len(rows)  # the medians are of every answer, not of the sample
    assert latency_by_length(rows[:5])["m"].points_sampled is False


async def test_the_plot_is_drawn_when_there_are_lengths_to_compare(answers_by_length: Database) -> None:
    from playground.ui.leaderboard import leaderboard

    data = await collect(answers_by_length, Filters())
    report = summarize(data)
    plots = all_plots(data, report)
    assert plots["Latency against prompt length"].startswith(b"\x89PNG")
    page = render_html(report, plots)
    assert "<h2>Latency against prompt length</h2>" in page and "<h2>Prefix cache" in page
    _, in_app = await leaderboard(answers_by_length, admin=False)
    assert "Latency against prompt length" in in_app


async def test_the_plot_is_left_out_without_lengths_to_compare(db: Database) -> None:
    assert latency_against_length(await build_report(db, Filters())) is None  # nothing stored
    _, conversation = await conversation_of(db, "ana", ("x", "y"))
    await store_turn(db, conversation, ("x", "y"), tokens(4000), tokens(4000))
    data = await collect(db, Filters())
    report = summarize(data)
    assert report.latency_by_length["x"].answers == 1  # a figure, but one length is not a curve
    assert "Latency against prompt length" not in all_plots(data, report)
    assert not any(t.title.startswith("Prefix cache") for t in report_tables(report))  # nothing reported


# --- exports carry the documents ---------------------------------------------------------------


def document(name: str, text: str, kind: str = "text", pages: int | None = None) -> DocumentText:
    data = text.encode()
    return DocumentText(hashlib.sha256(data).hexdigest(), name, kind, text, len(data), pages)


REPORT = document("=report.pdf", "The code is 7481. " * 40, kind="pdf", pages=3)
NOTES = document("notes.md", "# Notes\nThe colour is teal.", kind="markdown")
# The left side's window was too small: its documents were cut; the right side got them whole.
LEFT = StoredContext("head", 8192, 20_000, 8000, "Kept the first 7,900 of 19,900 document tokens (head).")
RIGHT = StoredContext("middle", 32_768, 20_100, 20_100, "")


def counts_of(budget: StoredContext, prompt_tokens: int, cached_tokens: int | None) -> dict[str, Any]:
    """The context fields an export gives for a side stored with ``budget`` (an empty note is none)."""
    return {"prompt_tokens": prompt_tokens, "context_policy": budget.policy, "context_window": budget.window,
            "prompt_tokens_full": budget.full_tokens, "prompt_tokens_sent": budget.sent_tokens,
            "context_note": budget.note or None, "cached_tokens": cached_tokens}


def block(*documents: DocumentText) -> str:
    return render_documents(documents) + "\n\n"


@pytest.fixture
async def with_documents(db: Database) -> tuple[Database, list[int]]:
    """ana's conversation: a question on two documents (alpha wins), a follow-up on the same two
    (beta wins; the right side's server had them cached); ben's turn without documents."""
    rater, conversation = await conversation_of(db, "ana", ("alpha", "beta"))
    models = ("alpha", "beta")
    first = await store_turn(db, conversation, models, SideFigures(19_990, cached_tokens=0, budget=LEFT),
                             SideFigures(20_100, budget=RIGHT), prompt="What is the code?", rater_id=rater,
                             winner="model_a", documents=(REPORT, NOTES))
    follow_up = await store_turn(db, conversation, models, SideFigures(8010, budget=LEFT),
                                 SideFigures(20_500, cached_tokens=20_000, budget=RIGHT), prompt="And the colour?",
                                 rater_id=rater, winner="model_b", documents=(REPORT, NOTES))
    ben, other = await conversation_of(db, "ben", models)
    plain = await store_turn(db, other, models, tokens(12), tokens(12), prompt="Hello?", rater_id=ben,
                             winner="model_a")
    return db, [first, follow_up, plain]


async def exported(db: Database, fmt: str, documents: str = "reference") -> list[dict[str, Any]]:
    buf = io.StringIO()
    await export(db, fmt, buf, EVERY_VOTE, documents=documents)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(buf.getvalue())))
    return [json.loads(line) for line in buf.getvalue().splitlines()]


async def test_csv_rows_name_the_documents_and_each_sides_budget(with_documents: tuple[Database, list[int]]) -> None:
    db, (first, follow_up, plain) = with_documents
    rows = await exported(db, "csv")
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 6
    by = {(int(r["turn_id"]), r["side"]): r for r in rows}
    left = by[(first, "a")]
    assert json.loads(left["document_ids"]) == [REPORT.id, NOTES.id]
    assert json.loads(left["document_names"]) == ["=report.pdf", "notes.md"]  # JSON: not read as a formula
    assert {name: left[name] for name in CONTEXT_FIELDS} == {
        name: "" if value is None else str(value) for name, value in counts_of(LEFT, 19_990, 0).items()}
    assert by[(first, "b")]["context_policy"] == "middle" and by[(first, "b")]["context_note"] == ""
    assert by[(follow_up, "b")]["cached_tokens"] == "20000"
    assert by[(plain, "a")]["document_ids"] == "" and by[(plain, "a")]["context_policy"] == ""
    with pytest.raises(ValueError, match="csv refers to documents"):
        await exported(db, "csv", documents="embed")


async def test_jsonl_refers_to_the_documents_or_embeds_them(with_documents: tuple[Database, list[int]]) -> None:
    db, (first, follow_up, _) = with_documents
    lines = {(line["rater"], line["side"]): line for line in await exported(db, "jsonl")}
    left = lines[("ana", "a")]
    assert left["documents_embedded"] is False
    assert left["documents"] == [
        {"id": REPORT.id, "name": "=report.pdf", "kind": "pdf", "size_bytes": REPORT.size_bytes, "pages": 3},
        {"id": NOTES.id, "name": "notes.md", "kind": "markdown", "size_bytes": NOTES.size_bytes, "pages": None}]
    assert [m["content"] for m in left["messages"] if m["role"] == "user"] == [
        "What is the code?", "And the colour?"]  # the questions only
    assert [t["documents"] for t in left["turns"]] == [[REPORT.id, NOTES.id]] * 2
    assert {name: left["turns"][0][name] for name in CONTEXT_FIELDS} == counts_of(LEFT, 19_990, 0)
    follow_up_right = lines[("ana", "b")]["turns"][1]
    assert {name: follow_up_right[name] for name in CONTEXT_FIELDS} == counts_of(RIGHT, 20_500, 20_000)
    assert lines[("ben", "a")]["documents"] == [] and lines[("ben", "a")]["turns"][0]["documents"] == []

    embedded = {(line["rater"], line["side"]): line for line in await exported(db, "jsonl", documents="embed")}
    # Where the app put them: before the conversation's first question, once.
    questions = [m["content"] for m in embedded[("ana", "a")]["messages"] if m["role"] == "user"]
    assert questions == [block(REPORT, NOTES) + "What is the code?", "And the colour?"]
    assert questions[0].startswith('<document name="=report.pdf">\nThe code is 7481.')
    # The whole documents are embedded; what each side was actually sent is in its counts and note.
    line = embedded[("ana", "a")]
    assert line["documents_embedded"] is True and line["documents"] == left["documents"]
    assert line["turns"][0]["context_note"] == LEFT.note and line["turns"][0]["prompt_tokens_sent"] == 8000
    assert [m["content"] for m in embedded[("ben", "a")]["messages"]] == ["Hello?", "alpha answers"]


async def test_jsonl_keeps_the_documents_of_unrated_earlier_turns(db: Database) -> None:
    rater, conversation = await conversation_of(db, "ana", ("alpha", "beta"))
    models = ("alpha", "beta")
    await store_turn(db, conversation, models, tokens(20), tokens(25), prompt="Hi.")
    # Attached on the second question: the app puts it before the first one from then on.
    earlier = await store_turn(db, conversation, models, SideFigures(19_990, budget=LEFT),
                               SideFigures(20_100, budget=RIGHT), prompt="Summarise it.", documents=(NOTES,))
    await store_turn(db, conversation, models, tokens(20_010), tokens(20_120), prompt="Shorter?",
                     rater_id=rater, winner="model_a", documents=(NOTES,))
    for mode, first_question in (("reference", "Hi."), ("embed", block(NOTES) + "Hi.")):
        line = next(x for x in await exported(db, "jsonl", documents=mode) if x["side"] == "a")
        assert [m["content"] for m in line["messages"] if m["role"] == "user"] == [
            first_question, "Summarise it.", "Shorter?"]
        unrated = line["turns"][1]
        assert unrated["rated"] is False and unrated["turn_id"] == earlier and unrated["documents"] == [NOTES.id]
        assert unrated["context_policy"] == "head" and unrated["prompt_tokens_sent"] == 8000
        assert line["turns"][0]["documents"] == [] and line["turns"][0]["context_policy"] is None
        assert [d["id"] for d in line["documents"]] == [NOTES.id]


async def test_dpo_and_fastchat_carry_the_documents_and_both_sides_counts(
    with_documents: tuple[Database, list[int]],
) -> None:
    db, (first, follow_up, plain) = with_documents
    pairs = {p["turn_id"]: p for p in await exported(db, "dpo")}
    assert pairs[first]["documents"] == [{"id": REPORT.id, "name": "=report.pdf"},
                                         {"id": NOTES.id, "name": "notes.md"}]
    assert pairs[first]["metadata"] == {"chosen": {"side": "a", **counts_of(LEFT, 19_990, 0)},
                                        "rejected": {"side": "b", **counts_of(RIGHT, 20_100, None)}}
    assert pairs[follow_up]["metadata"]["chosen"] == {"side": "b", **counts_of(RIGHT, 20_500, 20_000)}
    assert pairs[first]["prompt"] == [{"role": "user", "content": "What is the code?"}]
    assert "documents" not in pairs[plain] and "metadata" not in pairs[plain]  # the plain form without any

    battles = {int(b["question_id"]): b for b in await exported(db, "fastchat")}
    assert battles[follow_up]["documents"] == pairs[first]["documents"]
    assert battles[first]["metadata"] == {"a": counts_of(LEFT, 19_990, 0), "b": counts_of(RIGHT, 20_100, None)}
    assert set(battles[plain]) == FASTCHAT_FIELDS  # conv_metadata included

    embedded = {p["turn_id"]: p for p in await exported(db, "dpo", documents="embed")}
    assert embedded[follow_up]["prompt"][-1]["content"] == block(REPORT, NOTES) + "And the colour?"
    assert embedded[follow_up]["metadata"] == pairs[follow_up]["metadata"]
    fastchat = {int(b["question_id"]): b for b in await exported(db, "fastchat", documents="embed")}
    for conversation in ("conversation_a", "conversation_b"):
        assert fastchat[first][conversation][0]["content"] == block(REPORT, NOTES) + "What is the code?"
    assert fastchat[plain]["conversation_a"][0]["content"] == "Hello?"


def test_the_commands_take_the_length_and_documents_options(tmp_path: Path) -> None:
    import asyncio

    from playground.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'long.db'}"

    async def fill() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            rater, conversation = await conversation_of(db, "ana", ("alpha", "beta"))
            await store_turn(db, conversation, ("alpha", "beta"), tokens(200_000), tokens(150_000),
                             rater_id=rater, winner="model_b", documents=(NOTES,))
        finally:
            await db.dispose()

    asyncio.run(fill())
    report = playground("report", "--json", "--length-bucket", "over-128K", db_url=url)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["filters"]["length_buckets"] == [">128K"]
    assert json.loads(report.stdout)["leaderboard_by_length"][">128K"]["votes"] == 1
    bad = playground("report", "--length-bucket", "9K", db_url=url)
    assert bad.returncode == 2 and "not a length bucket: '9K'" in bad.stderr
    done = playground("export", "--format", "fastchat", "--documents", "embed", "--length-bucket", ">128K",
                      db_url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conversation_a"][0]["content"] == block(NOTES) + "What does it say?"
    refused = playground("export", "--format", "csv", "--documents", "embed", db_url=url)
    assert refused.returncode == 2 and "csv names the documents only" in refused.stderr
