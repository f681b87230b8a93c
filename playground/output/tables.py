"""The report as tables and sentences: one source for the terminal (rich), the HTML page and the
in-app leaderboard (markdown), so that they cannot disagree."""

from __future__ import annotations

from typing import NamedTuple

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from playground.stats.bradley_terry import RatingRow
from playground.stats.length import MIN_RATED_VOTES, LengthBoard
from playground.stats.report import NO_CATEGORY, AxisScores, Report
from playground.stats.summaries import LatencyPercentiles, MeanWithInterval, WilsonRate


class Table(NamedTuple):
    title: str
    header: list[str]
    rows: list[list[str]]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(cell: MeanWithInterval) -> str:
    return f"{_fmt(cell.mean)} ({_fmt(cell.lower)}-{_fmt(cell.upper)})"


def _rate(cell: WilsonRate) -> str:
    return f"{_fmt(cell.rate)} ({_fmt(cell.lower)}-{_fmt(cell.upper)})"


def _percentiles(cell: LatencyPercentiles | None) -> str:
    return "-" if cell is None else "/".join(_fmt(value, 3) for value in (cell.p50, cell.p90, cell.p99))


def _score_cells(scores: AxisScores) -> list[str]:
    return [_interval(scores.accuracy), _interval(scores.fluency), str(scores.accuracy.n)]


# The style features (stats/style.STYLE_FEATURES) as the report names them.
FEATURE_NAMES = {"length": "length (output tokens)", "headers": "markdown headers", "lists": "list items",
                 "bold": "bold spans"}


def _rating(row: RatingRow) -> str:
    return f"{row.rating:.0f} ({row.lower:.0f} - {row.upper:.0f})"


def _style_tables(report: Report) -> list[Table]:
    """Raw and style-controlled ratings side by side, and the style coefficients."""
    style = report.style_control
    if style is None:
        return []
    return [
        Table(f"Style control: ratings without and with the answers' style taken out (Bradley-Terry, Elo scale, "
              f"95% intervals; {style.battles} votes)",
              ["model", "raw rating (95% interval)", "raw rank", "style-controlled rating (95% interval)",
               "controlled rank", "change", "battles"],
              [[r.model, _rating(r.raw), str(r.raw.rank), _rating(r.controlled), str(r.controlled.rank),
                f"{r.controlled.rating - r.raw.rating:+.0f}", str(r.controlled.battles)] for r in style.ratings]),
        Table("Style coefficients (log-odds of a win per standard deviation of the normalised difference "
              "(a - b) / (a + b + 1); positive: raters prefer more of it)",
              ["feature", "coefficient", "95% interval", "rating points per SD"],
              [[FEATURE_NAMES.get(c.feature, c.feature), "-", "never differs between the answers", "-"]
               if c.feature in style.unvaried else
               [FEATURE_NAMES.get(c.feature, c.feature), f"{c.coefficient:+.3f}", f"{c.lower:+.3f} - {c.upper:+.3f}",
                f"{c.elo_per_sd:+.0f}"] for c in style.coefficients]),
    ]


def _length_board_rows(bucket: str, board: LengthBoard) -> list[list[str]]:
    """Rated models best first, then (or, below MIN_RATED_VOTES votes, only) win rates by model."""
    ratings = {r.model: r for r in board.bradley_terry}
    models = [r.model for r in board.bradley_terry] + [m for m in board.win_rates if m not in ratings]
    rows = []
    for model in models:
        rating = ratings.get(model)
        cell = board.win_rates[model]
        rows.append([bucket, str(board.votes), model,
                     "-" if rating is None else f"{rating.rating:.0f} ({rating.lower:.0f} - {rating.upper:.0f})",
                     _rate(cell), f"{cell.wins}/{cell.n}"])
    return rows


def _length_tables(report: Report) -> list[Table]:
    tables = []
    # By length only when the votes span two buckets or more: one bucket alone repeats the leaderboard.
    if len(report.leaderboard_by_length) > 1:
        tables.append(Table(
            f"Leaderboard by prompt length (Bradley-Terry from {MIN_RATED_VOTES} votes a bucket, 95% intervals)",
            ["prompt length", "votes", "model", "rating (95% interval)", "win rate (Wilson 95%)", "wins/decisive"],
            [row for bucket, board in report.leaderboard_by_length.items()
             for row in _length_board_rows(bucket, board)],
        ))
    if report.latency_by_length:
        tables.append(Table(
            "Latency by prompt length (medians of complete answers)",
            ["model", "prompt length", "answers", "prompt tokens", "TTFT s", "prefill tokens/s"],
            [[model, b.bucket, str(b.answers), f"{b.prompt_tokens:,.0f}", _fmt(b.ttft_s, 3),
              _fmt(b.prefill_tokens_per_s, 0)]
             for model, figures in report.latency_by_length.items() for b in figures.bins],
        ))
    cached = {model: figures.prefix_cache for model, figures in report.latency_by_length.items()
              if figures.prefix_cache is not None}
    if cached:
        tables.append(Table(
            "Prefix cache (answers whose server reported cached prompt tokens)",
            ["model", "answers", "with a hit", "cached share of prompt tokens", "TTFT s with a hit (median)",
             "TTFT s without (median)"],
            [[model, str(c.answers), str(c.hits), "-" if c.cached_share is None else f"{c.cached_share:.0%}",
              _fmt(c.ttft_s_hit, 3), _fmt(c.ttft_s_miss, 3)] for model, c in cached.items()],
        ))
    return tables


def report_tables(report: Report) -> list[Table]:
    """Every table of the report that has something to show, in reading order."""
    tables = []
    if report.bradley_terry:
        overall = report.win_rates.overall
        tables.append(Table(
            "Leaderboard (Bradley-Terry, Elo scale, 95% interval)",
            ["rank", "model", "rating", "95% interval", "battles", "win rate (Wilson 95%)", "online Elo"],
            [[str(r.rank), r.model, f"{r.rating:.0f}", f"{r.lower:.0f} - {r.upper:.0f}", str(r.battles),
              _rate(overall[r.model]), f"{report.elo[r.model]:.0f}"] for r in report.bradley_terry],
        ))
    tables += _style_tables(report)
    if report.scores:
        tables.append(Table("Scores (mean, 95% bootstrap interval)", ["model", "accuracy", "fluency", "ratings"],
                            [[model, *_score_cells(scores)] for model, scores in report.scores.items()]))
    # By category only when there are categories: a table of "(none)" alone repeats the one above.
    if set(report.scores_by_category) - {NO_CATEGORY}:
        tables.append(Table("Scores by category", ["category", "model", "accuracy", "fluency", "ratings"],
                            [[category, model, *_score_cells(scores)]
                             for category, models in report.scores_by_category.items()
                             for model, scores in models.items()]))
    if report.latency:
        tables.append(Table("Latency (p50 / p90 / p99)", ["model", "TTFT s", "TPOT s", "tokens/s"],
                            [[model, _percentiles(m.ttft_s), _percentiles(m.tpot_s), _percentiles(m.tokens_per_s)]
                             for model, m in report.latency.items()]))
    tables += _length_tables(report)
    if report.automatic_checks:
        tables.append(Table("Automatic checks: answers containing the reference (Wilson 95%)",
                            ["model", "category", "correct", "rate"],
                            [[model, category, f"{cell.wins}/{cell.n}", _rate(cell)]
                             for model, by in report.automatic_checks.items() for category, cell in by.items()]))
    if report.judge_agreement:
        tables.append(Table("LLM judge vs human votes on the same turns",
                            ["judge", "votes", "agreement", "Cohen's kappa"],
                            [[judge, str(j.votes), f"{j.agreement:.0%}", _fmt(j.kappa, 3)]
                             for judge, j in report.judge_agreement.items()]))
    if report.agreement_by_rater_pair:
        tables.append(Table("Agreement by rater pair (linear-weighted kappa)",
                            ["rater", "rater", "shared items", "kappa"],
                            [[p.rater_1, p.rater_2, str(p.items), _fmt(p.kappa, 3)]
                             for p in report.agreement_by_rater_pair]))
    if report.rater_quality:
        tables.append(Table("Rater quality (0-1: gold items, agreement with others, pace, straight-lining)",
                            ["rater", "votes", "gold agreement", "peer agreement", "median time s",
                             "straight-lining", "quality"],
                            [[q.rater, str(q.votes), f"{_fmt(q.gold_agreement)} ({q.gold_items})",
                              f"{_fmt(q.peer_agreement)} ({q.shared_items})", _fmt(q.median_time_s, 1),
                              _fmt(q.straight_lining), _fmt(q.score)] for q in report.rater_quality]))
    return tables


def report_lines(report: Report) -> list[str]:
    """The sentences around the tables: counts, notes, position bias, agreement."""
    lines = [f"{report.votes} votes ({report.ties} ties), {report.ratings} ratings."]
    lines += report.notes
    if report.bradley_terry:
        lines.append(report.interval_method)
    if report.style_control is not None:
        lines.append(f"Style control (as lmarena's): the ratings refitted with answer length, markdown headers, "
                     f"list items and bold spans as covariates, on {report.style_control.battles} votes with both "
                     f"answers stored; both fits weighted alike: {report.style_control.weighting}.")
    bias = report.position_bias
    if bias.decisive and bias.left_rate is not None and bias.p_value is not None:
        lines.append(f"Position bias: the left side won {bias.left_wins} of {bias.decisive} decisive votes "
                     f"({bias.left_rate:.0%}), binomial p = {bias.p_value:.3g}.")
    a = report.agreement
    if a.alpha is None:
        lines.append(f"Agreement between raters: not measurable yet ({a.items} score items rated by 2+ raters, "
                     "with more than one score value).")
    else:
        lines.append(f"Agreement: {a.items} score items rated by 2+ raters; ordinal Krippendorff's alpha "
                     f"{a.alpha:.3f}" + (f", weighted kappa {a.kappa:.3f}" if a.kappa is not None else "") + ".")
    return lines


def print_report(report: Report, console: Console) -> None:
    # Names come from users (models, raters, categories): printed as plain text, so that a "[" in
    # one is not read as rich markup.
    console.print(f"filters: {report.filters_text}", markup=False)
    for line in report_lines(report):
        console.print(line, markup=False)
    for table in report_tables(report):
        shown = RichTable(title=table.title)
        for column in table.header:
            shown.add_column(column)
        for row in table.rows:
            shown.add_row(*(Text(cell) for cell in row))
        console.print(shown)
