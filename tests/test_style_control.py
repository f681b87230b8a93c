"""Style control: a planted length bias is taken out; FastChat's markdown counts."""

from __future__ import annotations

import numpy as np
import pytest

from playground.core.answer_style import answer_style, markdown_counts
from playground.stats.bradley_terry import bradley_terry, count_battles
from playground.stats.style import count_styled, style_controlled
from playground.stats.synthetic import simulate_styled_battles, true_ratings

# All three equally good; "verbose" writes long answers, "concise" short ones, and the raters
# prefer the longer answer (2 log-odds per unit of (a - b) / (a + b + 1)).
SHAPES = {"verbose": (0.0, 0.0, 0.2, 0.8), "concise": (0.8, 0.2, 0.0, 0.0), "other": (0.25, 0.25, 0.25, 0.25)}


def test_a_model_that_wins_only_by_writing_longer_loses_its_lead_when_controlled() -> None:
    truth = dict.fromkeys(SHAPES, 1000.0)
    battles, styles = simulate_styled_battles(truth, 3000, np.random.default_rng(0), length_bias=2.0, shapes=SHAPES)
    raw = {r.model: r for r in bradley_terry(count_battles(battles))}
    assert raw["verbose"].rank == 1 and raw["concise"].rank == 3  # the bias, as a plain fit sees it
    assert raw["verbose"].rating - raw["concise"].rating > 150
    controlled = style_controlled(count_styled(battles, styles))
    ratings = {r.model: r for r in controlled.ratings}
    assert abs(ratings["verbose"].rating - ratings["concise"].rating) < 50
    assert ratings["verbose"].rank == ratings["concise"].rank == ratings["other"].rank == 1
    for r in controlled.ratings:
        assert r.lower <= 1000 <= r.upper  # the truth
    assert [c.feature for c in controlled.coefficients] == ["length", "headers", "lists", "bold"]
    assert controlled.battles == 3000 and controlled.interval == "laplace"
    # Without a bias the style coefficients are about nothing and the ratings stay where they were.
    fair, fair_styles = simulate_styled_battles(true_ratings(4, 80), 4000, np.random.default_rng(1), shapes=None)
    plain = {r.model: r.rating for r in bradley_terry(count_battles(fair))}
    unbiased = style_controlled(count_styled(fair, fair_styles), rounds=20, interval="bootstrap")
    for r in unbiased.ratings:
        assert r.rating == pytest.approx(plain[r.model], abs=15)
    for c in unbiased.coefficients:
        assert c.lower < c.coefficient < c.upper


def test_a_bias_planted_on_a_million_votes_is_found_in_cells() -> None:
    battles, styles = simulate_styled_battles(true_ratings(20, 25.0), 200_000, np.random.default_rng(2),
                                              length_bias=0.5, tie_rate=0.1)
    counts = count_styled(battles, styles)
    assert counts.total == 200_000 and len(counts.counts) < 20_000  # cells of identical battles
    assert counts.features.shape[1] == 4
    mean = (counts.features * counts.counts[:, None]).sum(axis=0) / counts.total
    assert mean == pytest.approx(np.zeros(4), abs=1e-9)


def test_markdown_is_counted_with_fastchats_regexes() -> None:
    text = ("# Title\n## Part\n###no space, no header\n1. one\n2. two\n  - nested\n* star\n+ plus\n"
            "**bold** and __also__ and **not\nbold**\n```python\n# a comment, not a header\n- not a list\n```\n")
    counts = markdown_counts(text)
    assert counts.header == {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
    assert counts.list == {"ordered": 2, "unordered": 3}
    assert counts.bold == {"**": 1, "__": 1}
    assert answer_style(text, 57) == (57, 2, 5, 2)


def test_votes_that_are_not_votes_and_mismatched_weights_are_refused() -> None:
    style = (answer_style("a", 1), answer_style("b", 2))
    with pytest.raises(ValueError, match="not a vote: 'draw'"):
        count_styled([("x", "y", "draw")], [style])
    with pytest.raises(ValueError, match="weight"):
        count_styled([("x", "y", "tie")], [style], weights=[0.0])
