"""The report's filters (which votes, ratings and answers it covers) and the SQL conditions they
become; :mod:`playground.store.report_queries` reads the rows with them, and the exports filter
with the same conditions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col

from playground.store.tables import Rater, Rating, Response, Turn, Vote

# What the filters say when they do not restrict something.
EVERYTHING = "all"
NO_DATE = "-"


class LengthBucket(NamedTuple):
    """Prompts of ``lower`` <= tokens < ``upper`` (no upper bound: None)."""

    name: str
    lower: int
    upper: int | None


# Prompt lengths in tokens, K = 1024 as context windows are counted (an 8K window is 8,192 tokens),
# so that a prompt that fills a 32K window is in 8-32K and not one bucket up.
K = 1024
LENGTH_BUCKETS = (
    LengthBucket("<8K", 0, 8 * K),
    LengthBucket("8-32K", 8 * K, 32 * K),
    LengthBucket("32-128K", 32 * K, 128 * K),
    LengthBucket(">128K", 128 * K, None),
)
UNKNOWN_LENGTH = "unknown"  # neither side of the turn has a prompt count
LENGTH_BUCKET_NAMES = (*(bucket.name for bucket in LENGTH_BUCKETS), UNKNOWN_LENGTH)


def length_bucket(tokens: int | None) -> str:
    """The bucket of a prompt of ``tokens`` tokens (None: unknown)."""
    if tokens is None:
        return UNKNOWN_LENGTH
    for bucket in LENGTH_BUCKETS:
        if bucket.upper is None or tokens < bucket.upper:
            return bucket.name
    raise AssertionError("the last bucket has no upper bound")


def prompt_tokens_of(response: Any = Response) -> Any:
    """A side's prompt length in SQL: the count of the prompt as sent after any cut
    (``prompt_tokens_sent``, counted before sending), else the count the server reported."""
    return func.coalesce(response.prompt_tokens_sent, response.prompt_tokens)


def turn_prompt_tokens() -> Any:
    """The turn's prompt length in SQL: the larger of its two sides' (NULL when neither has a count).
    A subquery on the enclosing query's Turn (max ignores a side without a count)."""
    side = aliased(Response)
    return (sa.select(func.max(prompt_tokens_of(side)))
            .where(col(side.turn_id) == col(Turn.id))
            .scalar_subquery())


class Filters(BaseModel):
    """Which votes, ratings and answers a report or an export covers. A pydantic model so that
    the report's JSON carries it as a structured object next to its one-line description."""

    model_config = ConfigDict(frozen=True)

    models: tuple[str, ...] = ()  # a battle counts when both its models are listed
    raters: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the prompt-set category of the turn
    since: datetime | None = None
    until: datetime | None = None
    blind_only: bool = True  # votes cast blind, ratings of turns shown blind
    # The turn's prompt-length buckets (LENGTH_BUCKET_NAMES; the larger side's count decides).
    length_buckets: tuple[str, ...] = ()
    # Raters whose votes and ratings are left out (the report's --min-rater-quality).
    exclude_raters: tuple[str, ...] = ()

    @field_validator("length_buckets")
    @classmethod
    def _known_buckets(cls, buckets: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in buckets if name not in LENGTH_BUCKET_NAMES]
        if unknown:
            raise ValueError(f"not a length bucket: {', '.join(unknown)} (use {', '.join(LENGTH_BUCKET_NAMES)})")
        return buckets

    def describe(self) -> str:
        """One line for people: "blind votes only · models: all · raters: all · categories: all ·
        since: - · until: -" (the terminal report, the HTML page and the JSON's filters_text), then
        "· prompt length: ..." when the length is filtered (the line stays as it was otherwise)."""

        def listed(values: tuple[str, ...]) -> str:
            return ", ".join(values) if values else EVERYTHING

        def when(value: datetime | None) -> str:
            return value.isoformat() if value else NO_DATE

        votes = "blind votes only" if self.blind_only else "all votes (blind and named)"
        parts = [
            votes, f"models: {listed(self.models)}", f"raters: {listed(self.raters)}",
            f"categories: {listed(self.categories)}", f"since: {when(self.since)}", f"until: {when(self.until)}",
        ]
        if self.length_buckets:
            parts.append(f"prompt length: {listed(self.length_buckets)}")
        if self.exclude_raters:
            parts.append(f"raters left out: {listed(self.exclude_raters)}")
        return " · ".join(parts)


def filter_conditions(filters: Filters, *, blind: Any, models: tuple[Any, ...], created: Any,
                gold_items: bool = False) -> list[Any]:
    """The filters as SQL conditions; the caller joins Rater and Turn. Gold items (answers with a
    known verdict, for judging raters) are never battles, answers or ratings of a model: left
    out unless ``gold_items``."""
    conditions: list[Any] = [] if gold_items else [col(Turn.gold_verdict).is_(None)]
    if filters.blind_only:
        conditions.append(blind.is_(True))
    if filters.models:
        conditions += [column.in_(filters.models) for column in models]  # every side listed
    if filters.raters:
        conditions.append(col(Rater.name).in_(filters.raters))
    if filters.exclude_raters:
        conditions.append(col(Rater.name).not_in(filters.exclude_raters))
    if filters.categories:
        conditions.append(col(Turn.category).in_(filters.categories))
    if filters.since:
        conditions.append(created >= filters.since)
    if filters.until:
        conditions.append(created <= filters.until)
    if filters.length_buckets:
        conditions.append(_length_condition(filters.length_buckets))
    return conditions


def _length_condition(buckets: tuple[str, ...]) -> Any:
    tokens = turn_prompt_tokens()
    ranges = {bucket.name: bucket for bucket in LENGTH_BUCKETS}
    chosen = []
    for name in buckets:
        if name == UNKNOWN_LENGTH:
            chosen.append(tokens.is_(None))
            continue
        bucket = ranges[name]
        chosen.append(tokens >= bucket.lower if bucket.upper is None
                      else and_(tokens >= bucket.lower, tokens < bucket.upper))
    return or_(*chosen)


def vote_conditions(filters: Filters) -> list[Any]:
    return filter_conditions(filters, blind=Vote.blind, models=(Vote.model_a, Vote.model_b), created=Vote.created_at)


def response_conditions(filters: Filters) -> list[Any]:
    # A rating counts as blind when its turn was shown without the names.
    return filter_conditions(filters, blind=Turn.blind, models=(Response.model,), created=Rating.created_at)


def answer_conditions(filters: Filters) -> list[Any]:
    """Filters that apply to answers whether rated or not: no raters, no blind-only, answer time."""
    return filter_conditions(Filters(models=filters.models, categories=filters.categories, since=filters.since,
                               until=filters.until, blind_only=False, length_buckets=filters.length_buckets),
                       blind=None, models=(Response.model,), created=Response.created_at)
