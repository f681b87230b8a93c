"""The report: every figure of the leaderboard in one dict (JSON), as terminal tables, or as the
input of the plots (playground/stats/plots.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from playground.stats.bradley_terry import TIES, bradley_terry, count_battles, online_elo
from playground.stats.auto_checks import automatic_accuracy
from playground.store.report_queries import (
    Filters,
    load_battles,
    load_judge_pairs,
    load_scores,
    load_set_answers,
    load_timings,
)
from playground.stats.summaries import (
    agreement,
    agreement_by_rater_pair,
    judge_agreement,
    latency,
    mean_with_interval,
    position_bias,
    win_rates,
)
from playground.store.database import Database

SMALL_SAMPLE = 100  # below this many votes, say that the intervals are wide
NO_CATEGORY = "(none)"  # turns typed by a rater rather than taken from a prompt set
AXES = ("accuracy", "fluency")


@dataclass(frozen=True)
class ReportData:
    """The rows behind a report, as loaded with its filters."""

    filters: Filters
    battles: list[tuple[str, str, str]]  # (model_a, model_b, winner), in voting order
    scores: list[tuple[str, str, int, int, int, str | None]]  # model, rater, response, acc, flu, category
    timings: list[tuple[str, float | None, float | None, float | None]]  # model, ttft, tpot, tok/s
    answers: list[tuple[str, str | None, str, str, str]] = ()  # type: ignore[assignment]  # prompt-set answers
    judged: list[tuple[str, str, str]] = ()  # type: ignore[assignment]  # judge model, its winner, a human's


async def collect(db: Database, filters: Filters) -> ReportData:
    return ReportData(filters, await load_battles(db, filters), await load_scores(db, filters),
                      await load_timings(db, filters), await load_set_answers(db, filters),
                      await load_judge_pairs(db, filters))


def _notes(battles: list[tuple[str, str, str]]) -> list[str]:
    """What a reader must know before trusting the numbers, said plainly."""
    notes = []
    if not battles:
        notes.append("No votes match these filters yet: nothing to rank.")
    elif len(battles) < SMALL_SAMPLE:
        notes.append(f"{len(battles)} votes: intervals are wide; rankings may change with more votes.")
    if battles and all(winner in TIES for _, _, winner in battles):
        notes.append("Every vote is a tie: no model is ahead.")
    if len({m for a, b, _ in battles for m in (a, b)}) == 1:
        notes.append("Only one model has votes: there is nothing to compare it with.")
    return notes


def _score_table(rows: list[tuple[str, int, int]]) -> dict[str, dict[str, Any]]:
    """(model, accuracy, fluency) -> per model and axis: mean with its bootstrap interval."""
    by_model: dict[str, dict[str, list[int]]] = defaultdict(lambda: {axis: [] for axis in AXES})
    for model, accuracy, fluency in rows:
        by_model[model]["accuracy"].append(accuracy)
        by_model[model]["fluency"].append(fluency)
    return {model: {axis: mean_with_interval(v) for axis, v in axes.items()} for model, axes in sorted(by_model.items())}


def summarize(data: ReportData, bootstrap_rounds: int = 100, per_rater: bool = False) -> dict[str, Any]:
    """All figures as plain JSON-able values. ``per_rater`` adds who agrees with whom (admins
    only: raters see aggregates)."""
    battles, scores = data.battles, data.scores
    by_category: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for model, _, _, accuracy, fluency, category in scores:
        by_category[category or NO_CATEGORY].append((model, accuracy, fluency))
    items = [(f"{response}:{axis}", rater, value)
             for _, rater, response, accuracy, fluency, _ in scores
             for axis, value in zip(AXES, (accuracy, fluency))]
    report: dict[str, Any] = {
        "filters": data.filters.describe(),
        "votes": len(battles),
        "ties": sum(winner in TIES for _, _, winner in battles),
        "ratings": len(scores),
        "notes": _notes(battles),
        "bradley_terry": [asdict(r) for r in bradley_terry(count_battles(battles), rounds=bootstrap_rounds)],
        "elo": online_elo(battles),
        "win_rates": win_rates(battles),
        "position_bias": position_bias(battles),
        "scores": _score_table([(m, a, f) for m, _, _, a, f, _ in scores]),
        "scores_by_category": {c: _score_table(rows) for c, rows in sorted(by_category.items())},
        "agreement": agreement(items),
        "latency": latency(data.timings),
        "automatic_checks": automatic_accuracy(data.answers),
        "judge_agreement": judge_agreement(data.judged),
    }
    if per_rater:
        report["agreement_by_rater_pair"] = agreement_by_rater_pair(items)
    return report


async def build_report(db: Database, filters: Filters, bootstrap_rounds: int = 100, per_rater: bool = False) -> dict[str, Any]:
    return summarize(await collect(db, filters), bootstrap_rounds, per_rater)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(cell: dict[str, Any]) -> str:
    return f"{_fmt(cell['mean'])} ({_fmt(cell['lower'])}-{_fmt(cell['upper'])})"


def report_tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table: one source for the terminal, the HTML page and the
    in-app leaderboard, so that they cannot disagree."""
    tables = []
    if report["bradley_terry"]:
        overall = report["win_rates"]["overall"]
        rows = []
        for r in report["bradley_terry"]:
            w = overall[r["model"]]
            rows.append([str(r["rank"]), r["model"], f"{r['rating']:.0f}", f"{r['lower']:.0f} - {r['upper']:.0f}",
                         str(r["battles"]), f"{_fmt(w['rate'])} ({_fmt(w['lower'])}-{_fmt(w['upper'])})",
                         f"{report['elo'][r['model']]:.0f}"])
        tables.append(("Leaderboard (Bradley-Terry, Elo scale, 95% bootstrap interval)",
                       ["rank", "model", "rating", "95% interval", "battles", "win rate (Wilson 95%)", "online Elo"], rows))
    if report["scores"]:
        tables.append(("Scores (mean, 95% bootstrap interval)", ["model", "accuracy", "fluency", "ratings"],
                       [[m, _interval(a["accuracy"]), _interval(a["fluency"]), str(a["accuracy"]["n"])]
                        for m, a in report["scores"].items()]))
    if len(report["scores_by_category"]) > 1 or set(report["scores_by_category"]) - {NO_CATEGORY}:
        tables.append(("Scores by category", ["category", "model", "accuracy", "fluency", "ratings"],
                       [[c, m, _interval(a["accuracy"]), _interval(a["fluency"]), str(a["accuracy"]["n"])]
                        for c, models in report["scores_by_category"].items() for m, a in models.items()]))
    if report["latency"]:
        tables.append(("Latency (p50 / p90 / p99)", ["model", "TTFT s", "TPOT s", "tokens/s"],
                       [[model] + ["/".join(_fmt(metrics[m][f"p{p}"], 3) for p in (50, 90, 99)) if m in metrics else "-"
                                   for m in ("ttft_s", "tpot_s", "tokens_per_s")]
                        for model, metrics in report["latency"].items()]))
    if report.get("automatic_checks"):
        tables.append(("Automatic checks: answers containing the reference (Wilson 95%)",
                       ["model", "category", "correct", "rate"],
                       [[model, category, f"{cell['wins']}/{cell['n']}",
                         f"{_fmt(cell['rate'])} ({_fmt(cell['lower'])}-{_fmt(cell['upper'])})"]
                        for model, by in report["automatic_checks"].items() for category, cell in by.items()]))
    if report.get("judge_agreement"):
        tables.append(("LLM judge vs human votes on the same turns", ["judge", "votes", "agreement", "Cohen's kappa"],
                       [[judge, str(j["votes"]), f"{j['agreement']:.0%}", _fmt(j["kappa"], 3)]
                        for judge, j in report["judge_agreement"].items()]))
    if report.get("agreement_by_rater_pair"):
        tables.append(("Agreement by rater pair (linear-weighted kappa)", ["rater", "rater", "shared items", "kappa"],
                       [[p["rater_1"], p["rater_2"], str(p["items"]), _fmt(p["kappa"], 3)]
                        for p in report["agreement_by_rater_pair"]]))
    return tables


def report_lines(report: dict[str, Any]) -> list[str]:
    """The sentences around the tables: counts, notes, position bias, agreement."""
    lines = [f"{report['votes']} votes ({report['ties']} ties), {report['ratings']} ratings."]
    lines += report["notes"]
    bias = report["position_bias"]
    if bias["decisive"]:
        lines.append(f"Position bias: the left side won {bias['left_wins']} of {bias['decisive']} decisive votes "
                     f"({bias['left_rate']:.0%}), binomial p = {bias['p_value']:.3g}.")
    a = report["agreement"]
    if a["alpha"] is None:
        lines.append(f"Agreement between raters: not measurable yet ({a['items']} score items rated by 2+ raters, "
                     "with more than one score value).")
    else:
        lines.append(f"Agreement: {a['items']} score items rated by 2+ raters; ordinal Krippendorff's alpha "
                     f"{a['alpha']:.3f}" + (f", weighted kappa {a['kappa']:.3f}" if a["kappa"] is not None else "") + ".")
    return lines


def print_report(report: dict[str, Any], console: Console) -> None:
    console.print(f"filters: {report['filters']}")
    for line in report_lines(report):
        console.print(line)
    for title, header, rows in report_tables(report):
        table = Table(title=title)
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
