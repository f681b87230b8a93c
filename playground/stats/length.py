"""Figures against prompt length (definitions: docs/definitions.md, "Prompt length").

* latency against length: per model, TTFT and prefill throughput (prompt tokens / TTFT) of every
  finished answer, as medians per length bucket and as points (at most MAX_POINTS per model, an
  even sample along the lengths when there are more) for the plot;
* prefix cache: per model whose server reported cached tokens, the share of prompt tokens it took
  from its cache and the median TTFT with and without a hit;
* leaderboard by length: the votes split by their turn's length bucket, per bucket Bradley-Terry
  (from MIN_RATED_VOTES votes) and win rates.

The buckets and a prompt's length are defined once, in playground.store.report_filters, where the
report's filter uses them too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from playground.core.vocabulary import TIES
from playground.stats.bradley_terry import RatingRow, bradley_terry, count_battles
from playground.stats.summaries import Summary, WilsonRate, win_rates
from playground.store.report_filters import LENGTH_BUCKET_NAMES, length_bucket
from playground.store.report_queries import Battle, PromptTiming

# Points kept per model: enough to see the shape on a plot, few enough that the report's JSON
# (and the page that embeds the plot) stays small whatever the number of answers.
MAX_POINTS = 300
# Below this many votes a bucket shows win rates only: a Bradley-Terry fit on a handful of votes
# is mostly its prior (bradley_terry.PRIOR_SD_ELO around the mean), and its (Laplace) intervals
# are then about the prior's width: a rating that says little beside the win counts themselves.
MIN_RATED_VOTES = 20


class LengthPoint(Summary):
    """One finished answer."""

    prompt_tokens: int
    ttft_s: float
    prefill_tokens_per_s: float | None  # prompt_tokens / ttft_s; None when TTFT is 0
    cached_tokens: int | None


class LengthBin(Summary):
    """Medians of one model's finished answers in one length bucket."""

    bucket: str
    answers: int
    prompt_tokens: float
    ttft_s: float
    prefill_tokens_per_s: float | None  # None when no answer of the bucket had a TTFT above 0


class PrefixCache(Summary):
    """Prompt tokens a model's server took from its prefix cache (answers that report it only)."""

    answers: int  # finished answers whose server reported cached tokens (none cached included)
    hits: int  # of those, answers with at least one cached token
    cached_share: float | None  # cached tokens / prompt tokens over those answers
    ttft_s_hit: float | None  # median TTFT of the hits
    ttft_s_miss: float | None  # median TTFT of the answers with nothing cached


class ModelLengthLatency(Summary):
    answers: int  # finished answers with a prompt length and a TTFT
    bins: list[LengthBin]  # in bucket order, buckets without answers left out
    points: list[LengthPoint]  # at most MAX_POINTS, shortest prompt first
    points_sampled: bool  # True when ``answers`` > MAX_POINTS and these are an even sample
    prefix_cache: PrefixCache | None  # None when its server reported no cached tokens


class LengthBoard(Summary):
    """The votes of one length bucket."""

    votes: int
    ties: int
    bradley_terry: list[RatingRow]  # best first; empty below MIN_RATED_VOTES votes or with one model
    win_rates: dict[str, WilsonRate]  # per model against everyone, ties left out


def _prefill(tokens: int, ttft: float) -> float | None:
    return tokens / ttft if ttft > 0 else None


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _even_sample(points: list[LengthPoint], limit: int) -> list[LengthPoint]:
    """``limit`` points spread evenly along the lengths (both ends kept), in length order."""
    ordered = sorted(points, key=lambda p: (p.prompt_tokens, p.ttft_s))
    if len(ordered) <= limit:
        return ordered
    picked = np.unique(np.linspace(0, len(ordered) - 1, limit).round().astype(int))
    return [ordered[i] for i in picked]


def _bin(bucket: str, points: list[LengthPoint]) -> LengthBin:
    prefill = [p.prefill_tokens_per_s for p in points if p.prefill_tokens_per_s is not None]
    return LengthBin(bucket=bucket, answers=len(points),
                     prompt_tokens=float(np.median([p.prompt_tokens for p in points])),
                     ttft_s=float(np.median([p.ttft_s for p in points])),
                     prefill_tokens_per_s=_median(prefill))


def _prefix_cache(points: list[LengthPoint]) -> PrefixCache | None:
    reported = [p for p in points if p.cached_tokens is not None]
    if not reported:
        return None
    prompt = sum(p.prompt_tokens for p in reported)
    cached = sum(p.cached_tokens or 0 for p in reported)
    hits = [p.ttft_s for p in reported if p.cached_tokens]
    misses = [p.ttft_s for p in reported if not p.cached_tokens]
    return PrefixCache(answers=len(reported), hits=len(hits), cached_share=cached / prompt if prompt else None,
                       ttft_s_hit=_median(hits), ttft_s_miss=_median(misses))


def latency_by_length(rows: Iterable[PromptTiming], max_points: int = MAX_POINTS) -> dict[str, ModelLengthLatency]:
    """Per model (sorted): medians per length bucket, points for the plot, and the prefix cache."""
    by_model: dict[str, list[LengthPoint]] = defaultdict(list)
    for row in rows:
        by_model[row.model].append(LengthPoint(
            prompt_tokens=row.prompt_tokens, ttft_s=row.ttft_s,
            prefill_tokens_per_s=_prefill(row.prompt_tokens, row.ttft_s), cached_tokens=row.cached_tokens,
        ))
    result = {}
    for model, points in sorted(by_model.items()):
        by_bucket: dict[str, list[LengthPoint]] = defaultdict(list)
        for point in points:
            by_bucket[length_bucket(point.prompt_tokens)].append(point)
        result[model] = ModelLengthLatency(
            answers=len(points),
            bins=[_bin(name, by_bucket[name]) for name in LENGTH_BUCKET_NAMES if name in by_bucket],
            points=_even_sample(points, max_points), points_sampled=len(points) > max_points,
            prefix_cache=_prefix_cache(points),
        )
    return result


def leaderboard_by_length(
    by_length: dict[str, list[Battle]], overall: list[RatingRow], rounds: int = 100
) -> dict[str, LengthBoard]:
    """Per length bucket with votes (bucket order): Bradley-Terry from MIN_RATED_VOTES votes and
    two models, win rates always. ``overall`` is the fit on all the votes: when every vote is in
    one bucket that bucket's fit is the same one, reused rather than fitted again."""
    boards = {}
    for name, battles in by_length.items():
        models = {m for b in battles for m in (b.model_a, b.model_b)}
        ratings: list[RatingRow] = []
        if len(battles) >= MIN_RATED_VOTES and len(models) > 1:
            ratings = overall if len(by_length) == 1 else bradley_terry(count_battles(battles), rounds=rounds)
        boards[name] = LengthBoard(votes=len(battles), ties=sum(b.winner in TIES for b in battles),
                                   bradley_terry=ratings, win_rates=win_rates(battles).overall)
    return boards
