"""The report: every figure of the leaderboard in one typed object.

``summarize`` turns the rows of :class:`~playground.store.report_queries.ReportData` into a
:class:`Report`; ``playground report --json`` prints ``Report.model_dump_json()``, and the
terminal tables, the HTML page, the plots and the in-app leaderboard (playground/output/ and
playground/ui/leaderboard.py) all read its attributes, so they cannot disagree with the JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from playground.core.vocabulary import TIES
from playground.stats.auto_checks import automatic_accuracy
from playground.stats.bradley_terry import (
    BOOTSTRAP,
    LAPLACE,
    PRIOR_SD_ELO,
    RatingRow,
    bradley_terry,
    count_battles,
    online_elo,
)
from playground.stats.length import LengthBoard, ModelLengthLatency, latency_by_length, leaderboard_by_length
from playground.stats.rater_quality import RaterQuality, RaterWeighting, below, rater_quality, vote_weight
from playground.stats.style import StyleCoefficient, count_styled, style_controlled
from playground.stats.summaries import (
    NO_CATEGORY,
    Agreement,
    JudgeAgreement,
    MeanWithInterval,
    ModelLatency,
    PositionBias,
    RaterPairAgreement,
    WilsonRate,
    WinRates,
    agreement,
    agreement_by_rater_pair,
    judge_agreement,
    latency,
    mean_with_interval,
    position_bias,
    win_rates,
)
from playground.store.database import Database
from playground.store.report_filters import Filters
from playground.store.report_queries import Battle, BattleStyle, ReportData, collect

__all__ = ["AXES", "INTERVAL", "NO_CATEGORY", "SMALL_SAMPLE", "AxisScores", "RaterPolicy", "Report",
           "StyleControlReport", "StyleControlledRating", "build_report", "collect_with_policy", "interval_words",
           "summarize"]

SMALL_SAMPLE = 100  # below this many votes, say that the intervals are wide
SAMPLING_NOTE = ("Bradley-Terry ratings weight each vote by 1 / the probability its pair of models was drawn "
                 "(pairs drawn adaptively or uniformly; a fixed pair counts 1).")
AXES = ("accuracy", "fluency")
# How the report's Bradley-Terry intervals (raw, style-controlled, by prompt length) are computed.
INTERVAL = LAPLACE


def interval_words(method: str, rounds: int) -> str:
    """Where the Bradley-Terry intervals come from, said for the reader (Report.interval_method)."""
    if method == BOOTSTRAP:
        return (f"Bradley-Terry 95% intervals: 2.5th to 97.5th percentiles of the fit over {rounds} bootstrap "
                "resamples of the votes.")
    return ("Bradley-Terry 95% intervals: Laplace approximation of the posterior at its mode (a Gaussian prior "
            f"of {PRIOR_SD_ELO:.0f} rating points on every rating), rating +- 1.96 quasi-standard deviations; "
            "they stay wide for models with few votes. Score intervals are bootstrap percentiles.")


class AxisScores(BaseModel):
    """One model's 1-5 scores on both axes (mean with a 95% bootstrap interval)."""

    model_config = ConfigDict(frozen=True)

    accuracy: MeanWithInterval
    fluency: MeanWithInterval


class RaterPolicy(BaseModel):
    """What the report does with raters whose quality score is under ``min_quality``: leave them out
    (``exclude``) or have their votes weighted by score / min_quality in the Bradley-Terry fit
    (``downweight``). ``affected``: those raters, with their scores."""

    model_config = ConfigDict(frozen=True)

    min_quality: float
    weighting: RaterWeighting = "exclude"
    affected: dict[str, float] = {}

    def note(self) -> str:
        """What the report did, said plainly (one of the report's notes)."""
        if not self.affected:
            return f"No rater has a quality score under {self.min_quality:.2f}: every vote counts."
        names = ", ".join(sorted(self.affected))
        if self.weighting == "exclude":
            return f"Raters with quality under {self.min_quality:.2f} are left out: {names}."
        return (f"Raters with quality under {self.min_quality:.2f} count with weight score/{self.min_quality:.2f} "
                f"in the Bradley-Terry fit: {names}.")


class StyleControlledRating(BaseModel):
    """One model's rating without (``raw``) and with (``controlled``) style control, fitted on the
    same votes with the same weights; each with its 95% interval and rank."""

    model_config = ConfigDict(frozen=True)

    model: str
    raw: RatingRow
    controlled: RatingRow


class StyleControlReport(BaseModel):
    """The leaderboard with the answers' style taken out (stats/style.py: length in output tokens,
    markdown headers, list items, bold spans), next to the raw one. Both fits use the ``battles``
    votes whose two answers are stored, with the weights said in ``weighting``."""

    model_config = ConfigDict(frozen=True)

    battles: int
    weighting: str  # what weighted both fits, in words
    ratings: list[StyleControlledRating]  # best first by the controlled rating
    coefficients: list[StyleCoefficient]  # log-odds of a win per SD of each feature's difference
    # Features that never differ between a vote's two answers: nothing to learn, the coefficient
    # is the prior's (0, with the prior's interval).
    unvaried: list[str] = []


class Report(BaseModel):
    """Every figure of one report. Dicts are keyed by model name (and category), sorted, except
    the prompt-length buckets, which keep their own order; ratings are best first."""

    model_config = ConfigDict(frozen=True)

    filters: Filters  # structured, for machines
    filters_text: str  # the same in one line, for people (Filters.describe())
    votes: int
    ties: int
    ratings: int  # score ratings (one per rated answer and rater)
    notes: list[str]  # what a reader must know before trusting the numbers
    bradley_terry: list[RatingRow]
    elo: dict[str, float]  # online Elo, best first
    win_rates: WinRates
    position_bias: PositionBias
    scores: dict[str, AxisScores]  # by model
    scores_by_category: dict[str, dict[str, AxisScores]]  # by category, then model
    agreement: Agreement
    latency: dict[str, ModelLatency]  # by model
    automatic_checks: dict[str, dict[str, WilsonRate]]  # by model, then category or "all"
    judge_agreement: dict[str, JudgeAgreement]  # by judge model
    # Against prompt length (stats/length.py): keyed by model, and by length bucket in bucket
    # order (<8K, 8-32K, 32-128K, >128K, unknown), buckets without votes left out.
    latency_by_length: dict[str, ModelLengthLatency] = {}
    leaderboard_by_length: dict[str, LengthBoard] = {}
    # Who agrees with whom: computed for admins only (raters see aggregates), else None.
    agreement_by_rater_pair: list[RaterPairAgreement] | None = None
    # Were the Bradley-Terry fits weighted by inverse pair-sampling probability (report --weight-by-sampling)?
    weighted_by_sampling: bool = False
    # Each rater's quality (stats/rater_quality.py; admins only, like the pairs above), and what
    # the report did with it.
    rater_quality: list[RaterQuality] = []
    rater_policy: RaterPolicy | None = None
    # Where the Bradley-Terry intervals come from, in words (interval_words).
    interval_method: str = interval_words(INTERVAL, 100)
    # Raw and style-controlled ratings side by side, and the style coefficients (None: no votes
    # with both answers stored, or fewer than two models).
    style_control: StyleControlReport | None = None


def _notes(battles: list[Battle]) -> list[str]:
    """What a reader must know before trusting the numbers, said plainly."""
    notes = []
    if not battles:
        notes.append("No votes match these filters yet: nothing to rank.")
    elif len(battles) < SMALL_SAMPLE:
        notes.append(f"{len(battles)} votes: intervals are wide; rankings may change with more votes.")
    if battles and all(b.winner in TIES for b in battles):
        notes.append("Every vote is a tie: no model is ahead.")
    if len({m for b in battles for m in (b.model_a, b.model_b)}) == 1:
        notes.append("Only one model has votes: there is nothing to compare it with.")
    return notes


def _weighting(rater_weights: bool, sampling_weights: bool) -> str:
    said = (["rater quality (score / threshold for raters under it)"] if rater_weights else []) + (
        ["1 / the probability the pair was drawn"] if sampling_weights else [])
    return "each vote by " + " x ".join(said) if said else "none (every vote counts 1)"


def _style_control(
    battles: list[Battle], styles: list[BattleStyle | None], weights: list[float] | None, raw: list[RatingRow],
    rounds: int, weighting: str,
) -> StyleControlReport | None:
    """The style-controlled fit next to the raw one on the votes with both answers' style (the raw
    fit ``raw`` reused when that is every vote), both with ``weights``."""
    if len(styles) != len(battles):
        return None  # not loaded
    kept = [i for i, style in enumerate(styles) if style is not None]
    chosen = [battles[i] for i in kept]
    if len({m for b in chosen for m in (b.model_a, b.model_b)}) < 2:
        return None
    chosen_weights = None if weights is None else [weights[i] for i in kept]
    counts = count_styled(chosen, [s for s in styles if s is not None], chosen_weights)
    controlled = style_controlled(counts, rounds=rounds, interval=INTERVAL)
    unvaried = [c.feature for j, c in enumerate(controlled.coefficients) if not counts.features[:, j].any()]
    if len(kept) < len(battles):
        raw = bradley_terry(count_battles(chosen, chosen_weights), rounds=rounds, interval=INTERVAL)
    by_model = {r.model: r for r in raw}
    return StyleControlReport(
        battles=controlled.battles, weighting=weighting, coefficients=controlled.coefficients, unvaried=unvaried,
        ratings=[StyleControlledRating(model=r.model, raw=by_model[r.model], controlled=r)
                 for r in controlled.ratings])


def _score_table(rows: list[tuple[str, int, int]]) -> dict[str, AxisScores]:
    """(model, accuracy, fluency) -> per model: both axes' means with their bootstrap intervals."""
    by_model: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for model, accuracy, fluency in rows:
        by_model[model][0].append(accuracy)
        by_model[model][1].append(fluency)
    return {model: AxisScores(accuracy=mean_with_interval(accuracy), fluency=mean_with_interval(fluency))
            for model, (accuracy, fluency) in sorted(by_model.items())}


def summarize(data: ReportData, bootstrap_rounds: int = 100, per_rater: bool = False,
              rater_policy: RaterPolicy | None = None,
              sampling_weights: Sequence[float] | None = None) -> Report:
    """All figures of the rows. ``per_rater`` adds who agrees with whom (admins only: raters see
    aggregates). ``rater_policy`` (from :func:`collect_with_policy`): raters under its threshold
    are already left out of ``data`` (exclude), or their battles are weighted here (downweight).
    ``sampling_weights``: one per battle (inverse pair-sampling probability), for the Bradley-Terry fits."""
    battles, scores = data.battles, data.scores
    quality = rater_quality(data.rater_votes)
    weights: list[float] | None = None
    if rater_policy is not None:
        rater_policy = rater_policy.model_copy(update={"affected": below(quality, rater_policy.min_quality)})
        if rater_policy.weighting == "downweight" and rater_policy.affected and len(data.battle_raters) == len(battles):
            weights = [vote_weight(rater_policy.affected[r], rater_policy.min_quality)
                       if r in rater_policy.affected else 1.0 for r in data.battle_raters]
    weighting = _weighting(weights is not None, sampling_weights is not None)
    if sampling_weights is not None:
        if len(sampling_weights) != len(battles):
            raise ValueError(f"{len(sampling_weights)} sampling weights for {len(battles)} votes")
        weights = [w * s for w, s in zip(weights or [1.0] * len(battles), sampling_weights, strict=True)]
    by_category: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for score in scores:
        by_category[score.category or NO_CATEGORY].append((score.model, score.accuracy, score.fluency))
    # Agreement is measured per score item: one answer on one axis, scored by several raters.
    items = [(f"{s.response_id}:{axis}", s.rater, value)
             for s in scores for axis, value in zip(AXES, (s.accuracy, s.fluency), strict=True)]
    fitted = bradley_terry(count_battles(battles, weights), rounds=bootstrap_rounds, interval=INTERVAL)
    return Report(
        filters=data.filters,
        filters_text=data.filters.describe(),
        votes=len(battles),
        ties=sum(b.winner in TIES for b in battles),
        ratings=len(scores),
        notes=_notes(battles) + ([rater_policy.note()] if rater_policy is not None else [])
        + ([SAMPLING_NOTE] if sampling_weights is not None else []),
        bradley_terry=fitted,
        elo=online_elo(battles),
        win_rates=win_rates(battles),
        position_bias=position_bias(battles),
        scores=_score_table([(s.model, s.accuracy, s.fluency) for s in scores]),
        scores_by_category={c: _score_table(rows) for c, rows in sorted(by_category.items())},
        agreement=agreement(items),
        latency=latency(data.timings),
        automatic_checks=automatic_accuracy(data.answers),
        judge_agreement=judge_agreement(data.judged),
        latency_by_length=latency_by_length(data.prompt_timings),
        leaderboard_by_length=leaderboard_by_length(data.battles_by_length, fitted, rounds=bootstrap_rounds),
        agreement_by_rater_pair=agreement_by_rater_pair(items) if per_rater else None,
        weighted_by_sampling=sampling_weights is not None,
        rater_quality=quality if per_rater else [],  # names and scores of raters: admins only
        rater_policy=rater_policy,
        interval_method=interval_words(INTERVAL, bootstrap_rounds),
        style_control=_style_control(battles, data.battle_styles, weights, fitted, bootstrap_rounds, weighting),
    )


async def collect_with_policy(db: Database, filters: Filters, rater_policy: RaterPolicy | None = None) -> ReportData:
    """The rows with ``filters``; with an ``exclude`` policy, loaded again without the raters
    under its threshold (their quality is judged on the first load)."""
    data = await collect(db, filters)
    if rater_policy is None or rater_policy.weighting != "exclude":
        return data
    low = below(rater_quality(data.rater_votes), rater_policy.min_quality)
    if not low:
        return data
    return await collect(db, filters.model_copy(update={"exclude_raters": tuple(sorted(low))}))


async def build_report(db: Database, filters: Filters, bootstrap_rounds: int = 100, per_rater: bool = False,
                       rater_policy: RaterPolicy | None = None) -> Report:
    """Load the rows with ``filters`` and summarize them."""
    return summarize(await collect_with_policy(db, filters, rater_policy), bootstrap_rounds, per_rater, rater_policy)
