"""The in-app leaderboard: the report's tables as markdown and its plots, for one viewer.

Raters see aggregates only; an admin also sees how far each pair of raters agree. The numbers
come from the same summarize() and report_tables() as ``playground report``, so the app and the
command cannot disagree. Nothing here needs Chainlit (the flow that sends the message does), so
this module is tested without it. Its headings, table titles and column headers are shown in the
viewer's language (playground/ui/i18n.py); model names, numbers and the report's sentences are not
translated.
"""

from __future__ import annotations

import asyncio

from playground.output.plots import all_plots
from playground.output.tables import report_lines, report_tables
from playground.stats.report import Report, summarize
from playground.store.database import Database
from playground.store.report_filters import Filters
from playground.store.report_queries import ReportData, collect
from playground.ui.i18n import Language, term, text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_of(report: Report, language: Language = "en") -> str:
    parts = [f"## {text(language, 'leaderboard.heading')}",
             f"_{_cell(report.filters_text)}; {text(language, 'leaderboard.intervals')}._", ""]
    parts += [f"- {line}" for line in report_lines(report)]
    for table in report_tables(report):
        header = [_cell(term(language, h)) for h in table.header]
        parts += ["", f"### {term(language, table.title)}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(table.header)]
        parts += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(parts)


def _summarize_and_draw(data: ReportData, admin: bool) -> tuple[Report, dict[str, bytes]]:
    report = summarize(data, per_rater=admin)
    return report, all_plots(data, report)


async def leaderboard(
    db: Database, admin: bool, filters: Filters = Filters(), language: Language = "en"
) -> tuple[str, dict[str, bytes]]:
    """(markdown, plots by title). The bootstrap and the drawing take CPU seconds: they run in a
    worker thread so that other raters' streams go on."""
    data = await collect(db, filters)
    report, plots = await asyncio.to_thread(_summarize_and_draw, data, admin)
    return markdown_of(report, language), plots
