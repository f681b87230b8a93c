"""Accuracy from the automatic checks: per model and category, the share of answers to prompt-set
items that contain a reference answer (with a Wilson interval). Items without references are
left out; answers that ended in an error count as wrong (the model did not answer)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from playground.evalsets.checks import matches_any
from playground.stats.summaries import wilson
from playground.ui.turn_checks import prompt_item


def automatic_accuracy(answers: Iterable[tuple[str, str | None, str, str, str]]) -> dict[str, Any]:
    """(model, category, prompt set, item id, answer text) -> {model: {category | "all": wilson}}."""
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for model, category, prompt_set, item_id, text in answers:
        item = prompt_item(prompt_set, item_id)
        if item is None or not item.references:
            continue
        correct = bool(matches_any(text, item.references))
        for key in (category or item.category, "all"):
            tally[model][key][0] += correct
            tally[model][key][1] += 1
    return {
        model: {category: wilson(c, n) for category, (c, n) in sorted(by.items(), key=lambda kv: (kv[0] == "all", kv[0]))}
        for model, by in sorted(tally.items())
    }
