"""The report's plots (matplotlib, drawn off-screen) as PNG bytes, named by what they show.

A plot with nothing to show is left out rather than drawn empty.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from playground.stats.report import AxisScores, Report
from playground.stats.summaries import MeanWithInterval
from playground.store.report_queries import ReportData

# Figures are built with matplotlib's object API, never pyplot: no global state, so the app can
# draw in worker threads for several raters at once, and no display is needed.


def _figure(width: float, height: float, rows: int = 1, columns: int = 1) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots(rows, columns, squeeze=False)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _matrix(models: list[str], values: np.ndarray, title: str, fmt: str, cmap: str) -> bytes:
    size = max(4.0, 0.7 * len(models) + 2)
    figure, axes = _figure(size + 1, size)
    ax = axes[0][0]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap)
    ax.set_xticks(range(len(models)), models, rotation=45, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.set_xlabel("model B")
    ax.set_ylabel("model A")
    for i in range(len(models)):
        for j in range(len(models)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=8)
    ax.set_title(title)
    figure.colorbar(image, ax=ax, fraction=0.046)
    return _png(figure)


def win_rate_matrix(report: Report) -> bytes | None:
    pairwise = report.win_rates.pairwise
    models = sorted(pairwise)
    if len(models) < 2:
        return None
    values = np.full((len(models), len(models)), np.nan)
    for i, m in enumerate(models):
        for j, o in enumerate(models):
            rate = pairwise[m][o].rate if m != o else None
            if rate is not None:
                values[i, j] = rate
    return _matrix(models, values, "Win rate of A over B (ties left out)", ".2f", "RdBu")


def battle_count_matrix(report: Report) -> bytes | None:
    counts = report.win_rates.battle_counts
    models = sorted(counts)
    if len(models) < 2:
        return None
    values = np.full((len(models), len(models)), np.nan)
    for i, m in enumerate(models):
        for j, o in enumerate(models):
            if m != o:
                values[i, j] = counts[m][o]
    return _matrix(models, values, "Battles between each pair (ties included)", ".0f", "Greens")


def ratings_with_error_bars(report: Report) -> bytes | None:
    ratings = report.bradley_terry
    if not ratings:
        return None
    figure, axes = _figure(max(5.0, 0.6 * len(ratings) + 3), 4)
    ax = axes[0][0]
    x = np.arange(len(ratings))
    centre = np.array([r.rating for r in ratings])
    errors = np.array([[r.rating - r.lower for r in ratings], [r.upper - r.rating for r in ratings]])
    ax.errorbar(x, centre, yerr=errors, fmt="o", capsize=4)
    ax.set_xticks(x, [r.model for r in ratings], rotation=45, ha="right")
    ax.set_ylabel("Bradley-Terry rating (Elo scale)")
    ax.set_title("Ratings with 95% intervals")
    ax.grid(axis="y", alpha=0.3)
    return _png(figure)


def _bar_heights(cells: list[MeanWithInterval]) -> tuple[np.ndarray, np.ndarray]:
    """Means and their error bars; a cell without ratings is NaN (no bar) rather than a crash."""
    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    mean = column([c.mean for c in cells])
    lower, upper = column([c.lower for c in cells]), column([c.upper for c in cells])
    return mean, np.array([mean - lower, upper - mean])


def _score_bars(ax: Any, table: dict[str, AxisScores]) -> None:
    models = list(table)
    x = np.arange(len(models))
    width = 0.38
    axes = (("accuracy", [table[m].accuracy for m in models]), ("fluency", [table[m].fluency for m in models]))
    for k, (axis, cells) in enumerate(axes):
        means, errors = _bar_heights(cells)
        ax.bar(x + (k - 0.5) * width, means, width, yerr=errors, capsize=3, label=axis)
    ax.set_xticks(x, models, rotation=30, ha="right")
    ax.set_ylim(0, 5.5)
    ax.set_ylabel("mean score (1-5)")
    ax.legend(loc="lower right")


def scores_by_model(report: Report) -> bytes | None:
    if not report.scores:
        return None
    figure, axes = _figure(max(5.0, 1.2 * len(report.scores) + 2), 4)
    ax = axes[0][0]
    _score_bars(ax, report.scores)
    ax.set_title("Accuracy and fluency by model (95% bootstrap intervals)")
    return _png(figure)


def scores_by_category(report: Report) -> bytes | None:
    categories = report.scores_by_category
    if len(categories) < 2:
        return None
    figure, axes = _figure(3.5 * len(categories) + 1, 4, 1, len(categories))
    for ax, (category, table) in zip(axes[0], categories.items(), strict=True):
        _score_bars(ax, table)
        ax.set_title(category)
    figure.suptitle("Accuracy and fluency by category")
    return _png(figure)


LATENCY_METRICS = ("TTFT (s)", "TPOT (s)", "tokens/s")


def latency_box_plots(data: ReportData) -> bytes | None:
    """Box plots of every finished answer's timings (the rows, not the report's percentiles: a box
    plot shows the whole spread)."""
    values: dict[str, list[list[float]]] = defaultdict(lambda: [[], [], []])
    for row in data.timings:
        for k, value in enumerate((row.ttft_s, row.tpot_s, row.tokens_per_s)):
            if value is not None:
                values[row.model][k].append(float(value))
    if not values:
        return None
    models = sorted(values)
    figure, axes = _figure(min(15.0, max(9.0, 0.8 * len(models) * 3)), 4, 1, 3)
    for k, (ax, label) in enumerate(zip(axes[0], LATENCY_METRICS, strict=True)):
        present = [m for m in models if values[m][k]]
        if present:
            ax.boxplot([values[m][k] for m in present], tick_labels=present)
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=30)
    figure.suptitle("Latency per model (complete answers)")
    return _png(figure)


def latency_against_length(report: Report) -> bytes | None:
    """TTFT and prefill throughput against prompt tokens (log x), a series per model: its answers
    as points and the medians of its length buckets joined by a line. Left out unless the answers
    have two prompt lengths or more (a plot against length needs lengths to compare)."""
    figures = report.latency_by_length
    if len({p.prompt_tokens for m in figures.values() for p in m.points}) < 2:
        return None
    figure, axes = _figure(12, 4.5, 1, 2)
    ttft_ax, prefill_ax = axes[0]
    for k, (model, m) in enumerate(figures.items()):
        colour = f"C{k % 10}"
        x = [p.prompt_tokens for p in m.points]
        ttft_ax.scatter(x, [p.ttft_s for p in m.points], s=12, alpha=0.45, color=colour, label=model)
        ttft_ax.plot([b.prompt_tokens for b in m.bins], [b.ttft_s for b in m.bins], color=colour, marker="D")
        prefill = [(p.prompt_tokens, p.prefill_tokens_per_s) for p in m.points if p.prefill_tokens_per_s is not None]
        if prefill:
            prefill_ax.scatter(*zip(*prefill, strict=True), s=12, alpha=0.45, color=colour, label=model)
        medians = [(b.prompt_tokens, b.prefill_tokens_per_s) for b in m.bins if b.prefill_tokens_per_s is not None]
        if medians:
            prefill_ax.plot(*zip(*medians, strict=True), color=colour, marker="D")
    for ax, label in ((ttft_ax, "TTFT (s)"), (prefill_ax, "prompt tokens / TTFT (tokens/s)")):
        ax.set_xscale("log")
        ax.set_xlabel("prompt tokens")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    ttft_ax.set_title("Time to first token")
    prefill_ax.set_title("Prefill throughput")
    ttft_ax.legend(loc="upper left", fontsize=8)
    figure.suptitle("Latency against prompt length (complete answers; lines join the medians per length bucket)")
    return _png(figure)


def all_plots(data: ReportData, report: Report) -> dict[str, bytes]:
    """Title -> PNG, in reading order, leaving out what has no data."""
    drawn = {
        "Ratings": ratings_with_error_bars(report),
        "Win-rate matrix": win_rate_matrix(report),
        "Battle counts": battle_count_matrix(report),
        "Scores by model": scores_by_model(report),
        "Scores by category": scores_by_category(report),
        "Latency": latency_box_plots(data),
        "Latency against prompt length": latency_against_length(report),
    }
    return {title: png for title, png in drawn.items() if png is not None}
