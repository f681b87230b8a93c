"""Accuracy from the automatic checks: per model and category, the share of answers to prompt-set
items that contained a reference answer (with a Wilson interval).

The verdict is the one stored with each answer when it was stored (``responses.reference_match``,
see playground/store/report_queries.py), never re-read from the prompt sets: editing an item
later must not rewrite past accuracy. Items without references have no verdict and are left
out. An answer that ended in an error was checked on the text it got to, usually none, so it
counts as wrong; a stopped answer is not counted (the rater cut it, not the model)."""

from __future__ import annotations

from collections.abc import Iterable

from playground.stats.summaries import NO_CATEGORY, WilsonRate, wilson
from playground.store.report_queries import CheckedAnswer

ALL_CATEGORIES = "all"  # the key of every model's rate over all its categories


def automatic_accuracy(answers: Iterable[CheckedAnswer]) -> dict[str, dict[str, WilsonRate]]:
    """{model: {category | "all": share of answers containing a reference}}, categories sorted
    with "all" last."""
    tally: dict[str, dict[str, list[int]]] = {}
    for answer in answers:
        by_category = tally.setdefault(answer.model, {})
        for key in (answer.category or NO_CATEGORY, ALL_CATEGORIES):
            correct_and_total = by_category.setdefault(key, [0, 0])
            correct_and_total[0] += answer.reference_match
            correct_and_total[1] += 1
    return {
        model: {category: wilson(correct, n)
                for category, (correct, n) in sorted(by.items(), key=lambda kv: (kv[0] == ALL_CATEGORIES, kv[0]))}
        for model, by in sorted(tally.items())
    }
