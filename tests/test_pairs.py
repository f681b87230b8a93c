"""Many models in the arena: pair probabilities (uniform, adaptive), draws that follow them, the
adaptive policy's savings in simulation, and the pair's policy and probability stored with a
chat conversation and with batch items (fake backends, real SQLite)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chisquare
from sqlmodel import select

from playground.arena.batch import run_batch
from playground.arena.duel import Duel
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.arena.pairs import PairDistribution
from playground.backends.fake import FakeBackend, words_script
from playground.backends.registry import BackendPool
from playground.core.config import ConfigError, PlaygroundConfig, parse_config
from playground.devtools.bench.pairs import PairScenario, compare
from playground.evalsets.prompt_sets import load_listed_set
from playground.stats.pair_sampling import FLOOR, adaptive_probabilities, all_pairs, arena_pair_distribution
from playground.store.database import Database
from playground.store.raters import add_rater
from playground.store.tables import Conversation, Turn, Vote

NAMES = ["alpha", "beta", "gamma", "delta"]


def many_config(models: list[str] = NAMES, **arena: object) -> PlaygroundConfig:
    entry = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
             "defaults": {"temperature": 0.3, "max_tokens": 64}}
    return parse_config({"models": [{"name": n, **entry} for n in models],
                         "arena": {"models": models, **arena}}, "many.yaml")


def fake_pool(config: PlaygroundConfig) -> BackendPool:
    pool = BackendPool(config)
    for name in config.model_names():
        pool.register(name, FakeBackend(name, [words_script(f"I am {name}.")]))
    return pool


def settled_cells() -> list[tuple[str, str, str, int]]:
    """Votes where alpha >> beta >> gamma are settled (hundreds of votes) and delta is new."""
    return [("alpha", "beta", "model_a", 400), ("alpha", "beta", "model_b", 100),
            ("beta", "gamma", "model_a", 400), ("beta", "gamma", "model_b", 100),
            ("alpha", "gamma", "model_a", 480), ("alpha", "gamma", "model_b", 20)]


def test_config_models_and_policies() -> None:
    assert many_config().arena.pair_policy() == "adaptive"  # the default of arena.models
    assert many_config(pairs="uniform").arena.pair_policy() == "uniform"
    assert many_config().arena.model_names() == NAMES
    fixed = parse_config({"models": many_config().model_dump()["models"],
                          "arena": {"model_a": "alpha", "model_b": "beta"}}, "fixed.yaml")
    assert fixed.arena.pair_policy() == "fixed" and fixed.arena.model_names() == ["alpha", "beta"]
    with pytest.raises(ConfigError, match=r"many.yaml: .*arena.models\[2\]: no model named 'nope'"):
        parse_config({"models": many_config().model_dump()["models"],
                      "arena": {"models": ["alpha", "beta", "nope"]}}, "many.yaml")
    with pytest.raises(ConfigError, match=r"many.yaml: arena.pairs"):
        many_config(pairs="best")
    with pytest.raises(ConfigError, match=r"many.yaml: arena: .*not both"):
        many_config(model_a="alpha")


@pytest.mark.parametrize("policy", ["uniform", "adaptive"])
def test_draw_frequencies_match_the_probabilities(policy: str) -> None:
    probabilities = (adaptive_probabilities(NAMES, settled_cells()) if policy == "adaptive"
                     else PairDistribution.uniform(NAMES).probabilities)
    distribution = PairDistribution(policy, probabilities)  # type: ignore[arg-type]
    rng = random.Random(7)
    draws = [distribution.draw(rng) for _ in range(10_000)]
    assert all(d.probability == probabilities[d.models] and d.policy == policy for d in draws)
    seen = Counter(d.models for d in draws)
    pairs = list(probabilities)
    observed = [seen[p] for p in pairs]
    expected = [10_000 * probabilities[p] for p in pairs]
    statistic, p_value = chisquare(observed, expected)
    print(f"\n{policy}: chi-square {statistic:.2f} over {len(pairs)} pairs, p = {p_value:.3f}")
    assert p_value > 0.001


def test_adaptive_never_starves_a_pair_and_boosts_a_new_model() -> None:
    probabilities = adaptive_probabilities(NAMES, settled_cells())
    floor = FLOOR / len(all_pairs(NAMES))
    assert abs(sum(probabilities.values()) - 1) < 1e-9
    assert min(probabilities.values()) >= floor - 1e-12
    # delta has no votes: its pairs come first, like lmarena's boost of a new model.
    with_delta = {p: q for p, q in probabilities.items() if "delta" in p}
    assert min(with_delta.values()) > max(q for p, q in probabilities.items() if "delta" not in p)
    # A lopsided history (one pair with 100,000 votes, every order settled): still every pair.
    lopsided = [("alpha", "beta", "model_a", 100_000), ("gamma", "delta", "model_b", 3)]
    assert min(adaptive_probabilities(NAMES, lopsided).values()) >= floor - 1e-12
    # No votes at all: every pair alike.
    fresh = adaptive_probabilities(NAMES, [])
    assert max(fresh.values()) - min(fresh.values()) < 1e-9


def test_adaptive_reaches_the_target_width_with_fewer_votes_than_uniform() -> None:
    joining = compare(PairScenario(models=6, new=2, prior_votes=800, target_width=120.0), runs=3)
    print(f"\nnew models joining: uniform {joining['uniform_votes']} votes, adaptive {joining['adaptive_votes']} "
          f"votes (ratio {joining['ratio']})")
    assert joining["adaptive_votes"] < joining["uniform_votes"]
    assert joining["ratio"] >= 1.3


async def test_a_chat_turn_of_a_many_model_arena_stores_its_pair(db: Database) -> None:
    from playground.ui.context import AppContext
    from playground.ui.session import new_duel

    config = many_config()
    app = AppContext(config=config, db=db, pool=fake_pool(config))
    rater = await add_rater(db, f"r{uuid.uuid4().hex[:6]}", "password-1")
    assert rater.id is not None
    duel = await new_duel(app)  # what a new chat in the app does
    assert duel.pair is not None and duel.pair.policy == "adaptive"
    seated = {c.model for c in duel.contenders.values()}
    assert seated == set(duel.pair.models) and seated <= set(NAMES)
    seat = ConversationSeat(str(uuid.uuid4()), rater.id)
    await TurnRun(db, duel, seat, TurnInput("Who are you?")).play()
    async with db.sessions() as session:
        conversation = await session.get(Conversation, seat.id)
    assert conversation is not None
    assert (conversation.pair_policy, conversation.pair_probability) == ("adaptive", pytest.approx(1 / 6))
    assert {conversation.model_a, conversation.model_b} == seated


async def test_a_fixed_pair_stores_fixed_and_probability_one(db: Database) -> None:
    config = parse_config({"models": many_config().model_dump()["models"],
                           "arena": {"model_a": "alpha", "model_b": "beta"}}, "fixed.yaml")
    distribution = await arena_pair_distribution(db, config)
    assert distribution.policy == "fixed"
    duel = Duel.from_config(config, fake_pool(config), random.Random(1), pair=distribution.draw(random.Random(1)))
    rater = await add_rater(db, "fixed-rater", "password-1")
    assert rater.id is not None
    seat = ConversationSeat(str(uuid.uuid4()), rater.id)
    await TurnRun(db, duel, seat, TurnInput("Hi")).play()
    async with db.sessions() as session:
        conversation = await session.get(Conversation, seat.id)
    assert conversation is not None and (conversation.pair_policy, conversation.pair_probability) == ("fixed", 1.0)


async def test_batch_over_three_models(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = "".join(f"  - {{id: q{i}, category: math, difficulty: easy, language: en, prompt: 'Item {i}?'}}\n"
                    for i in range(12))
    (tmp_path / "twelve.yaml").write_text("name: twelve\nitems:\n" + items)
    monkeypatch.setenv("PLAYGROUND_PROMPTS", str(tmp_path))
    three = NAMES[:3]
    config = many_config(three, pairs="uniform")
    prompt_set = load_listed_set("twelve")
    # Adaptive from stored votes: alpha-beta settled, gamma new.
    distribution = PairDistribution("adaptive", adaptive_probabilities(three, settled_cells()[:2]))
    result = await run_batch(db, config, fake_pool(config), prompt_set, three, seed=3, pairs=distribution)
    assert (result.done, result.failed) == (12, [])
    async with db.sessions() as session:
        rows = (await session.exec(
            select(Conversation.model_a, Conversation.model_b, Conversation.pair_policy, Conversation.pair_probability)
            .join(Turn, Turn.conversation_id == Conversation.id)
        )).all()
    assert len(rows) == 12
    for a, b, policy, probability in rows:
        pair = (min(a, b), max(a, b))
        assert a != b and {a, b} <= set(three)
        assert policy == "adaptive" and probability == pytest.approx(distribution.probabilities[pair])
    assert len({(min(a, b), max(a, b)) for a, b, *_ in rows}) >= 2  # more than one pair drawn
    again = await run_batch(db, config, fake_pool(config), prompt_set, three)
    assert (again.skipped, again.outcomes) == (12, [])  # done by any pair of the three


async def test_adaptive_goes_by_blind_votes_between_arena_models(db: Database) -> None:
    config = many_config()
    rater = await add_rater(db, "voter", "password-1")
    assert rater.id is not None
    async with db.transaction() as session:
        session.add(Conversation(id="c1", rater_id=rater.id, mode="blind", model_a="alpha", model_b="beta"))
        await session.flush()
        turn = Turn(conversation_id="c1", position=0, prompt="p", blind=True)
        session.add(turn)
        await session.flush()
        assert turn.id is not None
        session.add(Vote(turn_id=turn.id, rater_id=rater.id, winner="model_a", model_a="alpha", model_b="beta",
                         blind=True))
    distribution = await arena_pair_distribution(db, config)
    assert distribution.policy == "adaptive" and set(distribution.probabilities) == set(all_pairs(NAMES))
    # The one voted pair is a little more settled than the others.
    assert distribution.probabilities[("alpha", "beta")] == min(distribution.probabilities.values())
    assert np.isclose(sum(distribution.probabilities.values()), 1.0)


async def test_each_reported_vote_has_its_pair_probability(db: Database) -> None:
    from playground.stats.pair_sampling import inverse_probability_weights
    from playground.store.pair_queries import load_pair_probabilities
    from playground.store.report_filters import Filters
    from playground.store.report_queries import load_battles

    rater = await add_rater(db, "weigher", "password-1")
    assert rater.id is not None
    stored = [("c-fixed", "alpha", "beta", None, None), ("c-rare", "alpha", "gamma", "adaptive", 0.1),
              ("c-often", "beta", "gamma", "adaptive", 0.5)]
    async with db.transaction() as session:
        for cid, a, b, policy, probability in stored:
            session.add(Conversation(id=cid, rater_id=rater.id, mode="blind", model_a=a, model_b=b,
                                     pair_policy=policy, pair_probability=probability))
            await session.flush()
            turn = Turn(conversation_id=cid, position=0, prompt="p", blind=True)
            session.add(turn)
            await session.flush()
            assert turn.id is not None
            session.add(Vote(turn_id=turn.id, rater_id=rater.id, winner="model_a", model_a=a, model_b=b, blind=True))
            await session.flush()
    battles = (await load_battles(db, Filters()))[0]
    probabilities = await load_pair_probabilities(db, Filters())
    assert [(b.model_a, b.model_b) for b in battles] == [(a, b) for _, a, b, *_ in stored]
    assert probabilities == [None, 0.1, 0.5]
    weights = inverse_probability_weights(probabilities)
    assert weights == pytest.approx([w / (13 / 3) for w in (1.0, 10.0, 2.0)])


def test_report_weight_by_sampling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`playground report --json --weight-by-sampling`: weighted Bradley-Terry, said in the JSON."""
    import asyncio
    import json

    from typer.testing import CliRunner

    from playground.cli import app
    from playground.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'weights.db'}"

    async def fill() -> None:
        db = Database(url)
        await upgrade(db)
        rater = await add_rater(db, "weigher", "password-1")
        assert rater.id is not None
        # alpha beats beta in a pair drawn rarely (0.1), beta beats alpha in one drawn often (0.9).
        rows = [("alpha", "beta", "model_a", 0.1)] * 6 + [("alpha", "beta", "model_b", 0.9)] * 6
        async with db.transaction() as session:
            for k, (a, b, winner, probability) in enumerate(rows):
                session.add(Conversation(id=f"c{k}", rater_id=rater.id, mode="blind", model_a=a, model_b=b,
                                         pair_policy="adaptive", pair_probability=probability))
                await session.flush()
                turn = Turn(conversation_id=f"c{k}", position=0, prompt="p", blind=True)
                session.add(turn)
                await session.flush()
                assert turn.id is not None
                session.add(Vote(turn_id=turn.id, rater_id=rater.id, winner=winner, model_a=a, model_b=b, blind=True))
                await session.flush()
        await db.dispose()

    asyncio.run(fill())
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", url)
    runner = CliRunner()
    plain = json.loads(runner.invoke(app, ["report", "--json"], catch_exceptions=False).stdout)
    weighted = json.loads(runner.invoke(app, ["report", "--json", "--weight-by-sampling"],
                                        catch_exceptions=False).stdout)
    assert plain["weighted_by_sampling"] is False and weighted["weighted_by_sampling"] is True
    assert any("probability its pair" in note for note in weighted["notes"])
    ratings = {r["model"]: r["rating"] for r in weighted["bradley_terry"]}
    assert abs({r["model"]: r["rating"] for r in plain["bradley_terry"]}["alpha"] - 1000) < 1
    assert ratings["alpha"] > ratings["beta"] + 50  # the rarely drawn pair's wins count 9 times as much
