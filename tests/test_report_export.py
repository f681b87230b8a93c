"""Report and exports on stored ratings, on real SQLite and a real PostgreSQL server: the rows
are written through the same code the app uses (save_turn, submit_rating)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import update
from sqlmodel import col

from playground.core.generation import GenerationRecord
from playground.core.vocabulary import Side
from playground.devtools.synthetic_store import store_battles
from playground.evalsets.checks import check_answer, check_basis
from playground.evalsets.prompt_sets import PROMPTS_ENV, PromptItem, load_listed_set, load_prompt_set
from playground.output.export import CSV_COLUMNS, FORMATS, export
from playground.stats.report import Report, build_report, summarize
from playground.stats.synthetic import simulate_battles, true_ratings
from playground.store.database import Database
from playground.store.queue import batch_rater_id, store_batch_turn
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.records import ensure_conversation, save_turn
from playground.store.report_filters import Filters
from playground.store.report_queries import collect
from playground.store.tables import Response

from .store_helpers import record, submission

FASTCHAT_FIELDS = {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a",
                   "conversation_b", "turn", "anony", "language", "tstamp", "conv_metadata"}


async def rated_conversation(
    db: Database, rater_id: int, models: tuple[str, str], votes: list[tuple[str, tuple[int, int], tuple[int, int]]],
    *, category: str | None = None, blind: bool = True, system_prompt: str = "",
) -> str:
    """A conversation with one rated turn per entry of ``votes`` (winner, scores a, scores b)."""
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, rater_id, blind=blind, model_a=models[0], model_b=models[1])
    for i, (winner, a, b) in enumerate(votes):
        turn = await save_turn(
            db, conversation, prompt=f"{conversation[:8]} question {i}", system_prompt=system_prompt,
            settings={}, records={"a": record("a", models[0], text=f"{models[0]} says {i}"),
                                  "b": record("b", models[1], text=f"{models[1]} says {i}")},
            sampling={}, message_id=None, category=category,
        )
        await submit_rating(db, rater_id, submission(turn.id, winner, a, b, comment=f"c{i}"))  # type: ignore[arg-type]
    return conversation


@pytest.fixture
async def rated(db: Database) -> Database:
    """Two raters: ana's first vote is blind, later ones named (the vote reveals the names);
    ben's conversation has a category."""
    ana = await add_rater(db, "ana", "pw-ana-123")
    ben = await add_rater(db, "ben", "pw-ben-123")
    await rated_conversation(db, ana.id, ("alpha", "beta"),  # type: ignore[arg-type]
                             [("model_a", (5, 5), (2, 3)), ("tie", (4, 4), (4, 4)), ("model_b", (1, 2), (5, 5))],
                             system_prompt="Be brief.")
    await rated_conversation(db, ben.id, ("beta", "alpha"),  # type: ignore[arg-type]
                             [("model_b", (3, 3), (4, 5))], category="math")
    return db


async def test_report_counts_blind_votes_by_default_and_filters(rated: Database) -> None:
    report = await build_report(rated, Filters())
    # Blind: ana's first turn and ben's; ana's later turns were shown with names.
    assert (report.votes, report.ties) == (2, 0)
    assert [r.model for r in report.bradley_terry] == ["alpha", "beta"]
    assert report.scores["alpha"].accuracy.mean == pytest.approx((5 + 4) / 2)
    assert "2 votes: intervals are wide" in " ".join(report.notes)
    everything = await build_report(rated, Filters(blind_only=False))
    assert (everything.votes, everything.ties, everything.ratings) == (4, 1, 8)
    only_ben = await build_report(rated, Filters(raters=("ben",), blind_only=False))
    assert only_ben.votes == 1 and only_ben.ratings == 2
    math = await build_report(rated, Filters(categories=("math",), blind_only=False))
    assert math.votes == 1 and set(math.scores_by_category) == {"math"}
    nobody = await build_report(rated, Filters(models=("alpha", "gamma")))
    assert nobody.votes == 0 and nobody.bradley_terry == []


async def test_the_report_json_reads_back_as_the_same_report(rated: Database) -> None:
    report = await build_report(rated, Filters(raters=("ana", "ben"), blind_only=False), per_rater=True)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report and again.filters.raters == ("ana", "ben")
    document = json.loads(report.model_dump_json())
    # The keys readers of `playground report --json` used before the report was typed.
    assert {"filters", "votes", "ties", "ratings", "notes", "bradley_terry", "elo", "win_rates", "position_bias",
            "scores", "scores_by_category", "agreement", "latency", "automatic_checks", "judge_agreement",
            "agreement_by_rater_pair", "latency_by_length", "leaderboard_by_length"} <= set(document)
    # Every stored answer has 12 prompt tokens: all votes are short ones.
    assert list(document["leaderboard_by_length"]) == ["<8K"] and document["leaderboard_by_length"]["<8K"]["votes"] == 4
    assert document["latency_by_length"]["alpha"]["bins"][0]["prompt_tokens"] == 12
    assert document["scores"]["alpha"]["accuracy"]["n"] == 4
    assert document["filters_text"] == ("all votes (blind and named) · models: all · raters: ana, ben · "
                                        "categories: all · since: - · until: -")


async def test_report_on_an_empty_database(db: Database) -> None:
    report = await build_report(db, Filters())
    assert report.votes == 0 and report.notes == ["No votes match these filters yet: nothing to rank."]


async def run_export(db: Database, fmt: str, filters: Filters = Filters(blind_only=False)) -> tuple[str, int, int]:
    out = io.StringIO()
    counts = await export(db, fmt, out, filters)
    return out.getvalue(), counts.written, counts.skipped


async def test_exports_round_trip(rated: Database) -> None:
    text, written, skipped = await run_export(rated, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == CSV_COLUMNS and (written, skipped) == (len(rows), 0) == (8, 0)
    assert sorted((r["model"], r["response"], r["accuracy"]) for r in rows if r["rater"] == "ben") == [
        ("alpha", "alpha says 0", "4"), ("beta", "beta says 0", "3")]
    assert {r["category"] for r in rows if r["rater"] == "ben"} == {"math"}

    text, written, _ = await run_export(rated, "jsonl")
    lines = [json.loads(line) for line in text.splitlines()]
    assert written == len(lines) == 4  # two conversations x two sides
    ana_alpha = next(line for line in lines if line["rater"] == "ana" and line["model"] == "alpha")
    assert [m["role"] for m in ana_alpha["messages"]] == ["system"] + ["user", "assistant"] * 3
    assert [m["content"] for m in ana_alpha["messages"] if m["role"] == "assistant"] == [
        "alpha says 0", "alpha says 1", "alpha says 2"]
    assert [t["accuracy"] for t in ana_alpha["turns"]] == [5, 4, 1]
    assert [t["winner"] for t in ana_alpha["turns"]] == ["model_a", "tie", "model_b"]

    text, written, skipped = await run_export(rated, "dpo")
    pairs = [json.loads(line) for line in text.splitlines()]
    assert (written, skipped) == (3, 1)  # the tie is not a pair
    assert all(set(p) >= {"prompt", "chosen", "rejected"} for p in pairs)
    first = pairs[0]
    assert first["prompt"] == [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": first["prompt"][1]["content"]}]
    assert first["chosen"] == [{"role": "assistant", "content": "alpha says 0"}]
    assert first["rejected"] == [{"role": "assistant", "content": "beta says 0"}]
    assert sorted((p["chosen_model"], p["rejected_model"]) for p in pairs) == [
        ("alpha", "beta"), ("alpha", "beta"), ("beta", "alpha")]

    text, written, _ = await run_export(rated, "fastchat")
    battles = [json.loads(line) for line in text.splitlines()]
    assert written == 4 and all(set(b) == FASTCHAT_FIELDS for b in battles)
    assert sorted(b["winner"] for b in battles) == ["model_a", "model_b", "model_b", "tie"]
    assert [b["anony"] for b in battles if b["judge"] == "ana"] == [True, False, False]
    assert battles[0]["conversation_a"][1] == {"role": "assistant", "content": "alpha says 0"}
    # The battle log read back gives the same ratings as the database.
    report = summarize(await collect(rated, Filters(blind_only=False)))
    from playground.stats.bradley_terry import bradley_terry, count_battles
    again = bradley_terry(count_battles([(b["model_a"], b["model_b"], b["winner"]) for b in battles]))
    assert [round(r.rating, 6) for r in again] == [round(r.rating, 6) for r in report.bradley_terry]


async def test_every_export_works_on_an_empty_database(db: Database) -> None:
    for fmt in FORMATS:
        text, written, skipped = await run_export(db, fmt)
        assert (written, skipped) == (0, 0)
        assert text == (",".join(CSV_COLUMNS) + "\r\n" if fmt == "csv" else "")


async def test_synthetic_votes_stored_in_bulk_rank_as_simulated(db: Database) -> None:
    truth = true_ratings(4, spread=150)
    battles = simulate_battles(truth, 800, np.random.default_rng(4))
    await store_battles(db, battles, raters=3, chunk=300)
    report = await build_report(db, Filters())
    assert report.votes == 800 and report.ratings == 1600
    assert [r.model for r in report.bradley_terry] == list(truth)
    assert sum(1 for _ in (await run_export(db, "fastchat"))[0].splitlines()) == 800
    # Rows added later by the app do not collide with the bulk-written ids (PostgreSQL sequences).
    late = await add_rater(db, "late", "pw-late-123")
    await rated_conversation(db, late.id, ("model-00", "model-01"), [("model_a", (5, 5), (1, 1))])  # type: ignore[arg-type]
    assert (await build_report(db, Filters())).votes == 801


async def store_checked_item(db: Database, set_name: str, item: PromptItem,
                             records: dict[Side, GenerationRecord]) -> int:
    """A batch turn of ``item`` stored with each answer's automatic check, as the turn lifecycle
    stores it: checked on the answer's text (an error's too), a stopped answer left unchecked."""
    turn = await store_batch_turn(
        db, await batch_rater_id(db), prompt_set=set_name, item_id=item.id, category=item.category,
        prompt=item.question, system_prompt="", settings={}, sampling={}, records=records,
    )
    async with db.transaction() as session:
        for side, answer in records.items():
            if answer.status == "stopped":
                continue
            found = check_answer(answer.text, item)
            await session.exec(
                update(Response).where(col(Response.turn_id) == turn.id, col(Response.side) == side)
                .values(check_verdict=found.verdict, reference_match=found.reference_match,
                        check_basis=check_basis(set_name, item))
            )
    assert turn.id is not None
    return turn.id


async def test_report_counts_automatic_checks_per_model_and_category(db: Database) -> None:
    quick = load_prompt_set("quick-20")
    for item in quick.items[:8]:  # math_01..06, reason_01..02
        await store_checked_item(db, "quick-20", item, {
            "a": record("a", "good", text=f"<think>hmm</think>It is {item.references[0]}."),
            "b": record("b", "bad", text="<think>" + item.references[0] + "</think>I don't know."),
        })
    first = quick.items[0]
    await store_checked_item(db, "quick-20", first, {  # an error counts as wrong, a stopped answer not at all
        "a": record("a", "broken", status="error", text=""),
        "b": record("b", "cut", status="stopped", text=f"It is {first.references[0]}"),
    })
    checks = (await build_report(db, Filters())).automatic_checks
    assert (checks["good"]["math"].wins, checks["good"]["math"].n) == (6, 6)
    assert (checks["good"]["reasoning"].wins, checks["good"]["all"].n) == (2, 8)
    assert checks["bad"]["all"].wins == 0  # the answer only in its reasoning does not count
    assert (checks["broken"]["all"].wins, checks["broken"]["all"].n) == (0, 1) and "cut" not in checks
    only_math = (await build_report(db, Filters(categories=("math",)))).automatic_checks
    assert set(only_math["good"]) == {"math", "all"}


async def test_a_stored_verdict_stands_when_the_prompt_set_is_edited_later(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROMPTS_ENV, str(tmp_path))
    path = tmp_path / "capitals.yaml"
    item = {"id": "fr", "category": "geography", "difficulty": "easy", "language": "en",
            "prompt": "Capital of France?", "references": ["Paris"]}
    path.write_text(yaml.safe_dump({"name": "capitals", "items": [item]}))
    asked = load_listed_set("capitals").item("fr")
    await store_checked_item(db, "capitals", asked, {"a": record("a", "right", text="It is Paris."),
                                                     "b": record("b", "wrong", text="It is Lyon.")})
    # The set is edited afterwards: the reference now names the other answer.
    path.write_text(yaml.safe_dump({"name": "capitals", "items": [item | {"references": ["Lyon"]}]}))
    assert load_listed_set("capitals").item("fr").references == ["Lyon"]
    checks = (await build_report(db, Filters())).automatic_checks
    assert (checks["right"]["geography"].wins, checks["right"]["geography"].n) == (1, 1)
    assert (checks["wrong"]["geography"].wins, checks["wrong"]["geography"].n) == (0, 1)


async def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(db: Database) -> None:
    ana = await add_rater(db, "ana", "pw-ana-123")
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, ana.id, blind=True, model_a="alpha", model_b="beta")  # type: ignore[arg-type]
    turn = await save_turn(
        db, conversation, prompt='=HYPERLINK("http://x","y")', system_prompt="+1", settings={},
        records={"a": record("a", "alpha", text="-2 is the answer"), "b": record("b", "beta", text="\tindented")},
        sampling={}, message_id=None,
    )
    await submit_rating(db, ana.id, submission(turn.id, "model_a", comment="@SUM(1)"))  # type: ignore[arg-type]
    text, written, _ = await run_export(db, "csv")
    rows = {row["side"]: row for row in csv.DictReader(io.StringIO(text))}
    assert written == 2
    assert rows["a"]["prompt"] == "'" + '=HYPERLINK("http://x","y")' and rows["a"]["comment"] == "'@SUM(1)"
    assert rows["a"]["system_prompt"] == "'+1" and rows["a"]["response"] == "'-2 is the answer"
    assert rows["b"]["response"] == "'\tindented"
    assert rows["a"]["model"] == "alpha" and rows["a"]["accuracy"] == "4"  # ordinary cells as they are
    # The exports meant for programs keep the text exactly.
    pairs = [json.loads(line) for line in (await run_export(db, "dpo"))[0].splitlines()]
    assert pairs[0]["prompt"][-1]["content"] == '=HYPERLINK("http://x","y")'


async def test_jsonl_keeps_unrated_earlier_turns_as_context(db: Database) -> None:
    ana = await add_rater(db, "ana", "pw-ana-123")
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, ana.id, blind=False, model_a="alpha", model_b="beta")  # type: ignore[arg-type]
    turns = []
    for i in range(3):
        turns.append(await save_turn(
            db, conversation, prompt=f"q{i}", system_prompt="Sys.", settings={},
            records={"a": record("a", "alpha", text=f"a{i}"), "b": record("b", "beta", text=f"b{i}")},
            sampling={}, message_id=None,
        ))
    await submit_rating(db, ana.id, submission(turns[1].id, "model_a"))  # type: ignore[arg-type]  # only the middle turn
    text, written, _ = await run_export(db, "jsonl")
    lines = {line["side"]: line for line in map(json.loads, text.splitlines())}
    assert written == 2
    assert [m["content"] for m in lines["a"]["messages"]] == ["Sys.", "q0", "a0", "q1", "a1"]
    assert [t["rated"] for t in lines["b"]["turns"]] == [False, True]
    assert lines["b"]["turns"][1]["accuracy"] == 2 and lines["b"]["messages"][-1]["content"] == "b1"


async def test_a_running_export_does_not_block_raters_saving(rated: Database) -> None:
    import asyncio

    from playground.store.export_queries import rated_responses

    ben = await add_rater(rated, "carl", "pw-carl-123")
    stream = rated_responses(rated, Filters(blind_only=False))
    first = await stream.__anext__()  # the export's read is open, mid-stream
    assert len(first) == 8
    try:
        # A rater saves meanwhile: within a second, not after the 30 s busy timeout.
        await asyncio.wait_for(
            rated_conversation(rated, ben.id, ("alpha", "beta"), [("model_a", (3, 3), (3, 3))]),  # type: ignore[arg-type]
            timeout=5,
        )
    finally:
        await stream.aclose()
    assert (await build_report(rated, Filters(raters=("carl",)))).votes == 1


async def test_the_in_app_leaderboard_shows_the_report_without_chainlit(rated: Database) -> None:
    from playground.ui.leaderboard import leaderboard

    text, plots = await leaderboard(rated, admin=False, filters=Filters(blind_only=False))
    assert "_all votes (blind and named) · models: all · raters: all" in text
    assert "### Leaderboard (Bradley-Terry" in text and "| 1 | alpha |" in text
    assert "Agreement by rater pair" not in text and {"Ratings", "Win-rate matrix"} <= set(plots)
    # The module is the app's, but the numbers need no Chainlit: importing it must not load it.
    check = "import sys, playground.ui.leaderboard; print('chainlit' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", check], text=True, capture_output=True, timeout=120)
    assert loaded.stdout.strip() == "False", loaded.stderr


# FastChat's style-control preprocessing (fastchat/serve/monitor/rating_systems.py,
# preprocess_for_style), copied faithfully: what its analysis does with our conv_metadata.
STYLE_CONTROL_ELEMENTS_V1 = ["sum_assistant_a_tokens", "header_count_a", "list_count_a", "bold_count_a",
                             "sum_assistant_b_tokens", "header_count_b", "list_count_b", "bold_count_b"]


def fastchat_style_features(conv_metadata: list[dict], add_one: bool = True) -> np.ndarray:
    k = len(STYLE_CONTROL_ELEMENTS_V1) // 2

    def extract_style_feature(x: dict, feature: str) -> int:
        val = x[feature]
        if isinstance(val, int):
            return val
        return sum(val.values())

    style_vector = np.zeros(shape=(2 * k, len(conv_metadata)), dtype=np.int32)
    for idx, element in enumerate(STYLE_CONTROL_ELEMENTS_V1):
        style_vector[idx, :] = [extract_style_feature(x, element) for x in conv_metadata]
    style_diff = (style_vector[:k] - style_vector[k:]).astype(float)
    style_sum = (style_vector[:k] + style_vector[k:]).astype(float)
    if add_one:
        style_sum = style_sum + np.ones(style_diff.shape)
    style_diff[np.flatnonzero([1, 1, 1, 1])] /= style_sum[np.flatnonzero([1, 1, 1, 1])]
    style_mean = np.mean(style_diff, axis=1)
    style_std = np.std(style_diff, axis=1)
    return ((style_diff - style_mean[:, np.newaxis]) / style_std[:, np.newaxis]).T


async def test_the_fastchat_export_carries_the_style_metadata_fastchat_reads(db: Database) -> None:
    from playground.core.answer_style import AnswerStyle, answer_style
    from playground.stats.style import count_styled

    rater = await add_rater(db, "sty", "pw-sty-12345")
    answers = ["# Plan\n1. a\n2. b\n**note**", "plain words", "## Head\n- x\n- y\n__u__ **v**", "ok",
               "```\n# not a header\n```\n* one", "### three\n#### four"]
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, rater.id, blind=True, model_a="alpha", model_b="beta")  # type: ignore[arg-type]
    for i in range(0, len(answers), 2):
        a = dataclasses.replace(record("a", "alpha", text=answers[i]), output_tokens=40 + 7 * i)
        b = dataclasses.replace(record("b", "beta", text=answers[i + 1]), output_tokens=9 + i)
        turn = await save_turn(db, conversation, prompt=f"q{i}", system_prompt="", settings={},
                               records={"a": a, "b": b}, sampling={}, message_id=None)
        await submit_rating(db, rater.id, submission(turn.id, ("model_a", "model_b", "tie")[i // 2],  # type: ignore[arg-type]
                                                     (3, 3), (3, 3)))
    battles = [json.loads(line) for line in (await run_export(db, "fastchat"))[0].splitlines()]
    assert len(battles) == 3 and all(set(b) == FASTCHAT_FIELDS for b in battles)
    first = battles[0]["conv_metadata"]
    assert first["sum_assistant_a_tokens"] == 40 and first["sum_assistant_b_tokens"] == 9
    assert first["header_count_a"] == {"h1": 1, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
    assert first["list_count_a"] == {"ordered": 2, "unordered": 0}
    assert first["bold_count_a"] == {"**": 1, "__": 0}
    assert first["list_count_b"] == {"ordered": 0, "unordered": 0} and first["turns"] == 1
    assert battles[2]["conv_metadata"]["header_count_a"]["h1"] == 0  # in a code block
    assert battles[2]["conv_metadata"]["list_count_a"] == {"ordered": 0, "unordered": 1}
    for element in STYLE_CONTROL_ELEMENTS_V1:  # ints or dicts of ints, as FastChat sums them
        for battle in battles:
            value = battle["conv_metadata"][element]
            assert type(value) is int or all(type(v) is int for v in value.values())
    # FastChat's own feature extraction on our export = our style features on the stored answers.
    theirs = fastchat_style_features([b["conv_metadata"] for b in battles])
    styles = [(AnswerStyle(*answer_style(answers[i], 40 + 7 * i)), AnswerStyle(*answer_style(answers[i + 1], 9 + i)))
              for i in range(0, len(answers), 2)]
    ours = count_styled([(b["model_a"], b["model_b"], b["winner"]) for b in battles], styles)
    assert sorted(map(tuple, np.round(theirs, 9))) == sorted(map(tuple, np.round(ours.features, 9)))
