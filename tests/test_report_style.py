"""Style control in the report (issue 11.3): on a store whose raters prefer longer answers, the
report's raw and style-controlled ratings side by side (JSON, terminal, HTML, `playground report
--json`), the style coefficients, and the report's options (filters, weights) applied to both fits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sqlalchemy import bindparam, select, update
from sqlmodel import col

from playground.core.answer_style import AnswerStyle
from playground.devtools.synthetic_store import store_battles
from playground.output.html_page import render_html
from playground.output.tables import print_report, report_lines, report_tables
from playground.stats.report import Report, build_report, summarize
from playground.stats.synthetic import simulate_styled_battles
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.report_filters import Filters
from playground.store.report_queries import Battle, ReportData, collect
from playground.store.tables import Response, Turn

from .test_cli_store import playground

# All three equally good; "verbose" writes long answers, "concise" short ones, and the raters
# prefer the longer answer (stats/synthetic.ANSWER_SHAPES: 120, 250, 400 or 800 output tokens).
SHAPES: dict[str, tuple[float, ...]] = {
    "verbose": (0.0, 0.0, 0.2, 0.8), "concise": (0.8, 0.2, 0.0, 0.0), "other": (0.25, 0.25, 0.25, 0.25)}
VOTES = 2000


async def store_length_biased(db: Database, votes: int = VOTES) -> None:
    """``votes`` battles written as the app stores them, each answer with its planted length in
    output tokens; the text carries a bold span on a coin flip (style the raters ignore)."""
    rng = np.random.default_rng(0)
    battles, styles = simulate_styled_battles(dict.fromkeys(SHAPES, 1000.0), votes, rng, length_bias=2.0,
                                              shapes=SHAPES)
    await store_battles(db, battles)
    bold = rng.integers(0, 2, (votes, 2))
    async with db.reading() as session:
        connection = await session.connection()
        turns = list((await connection.execute(select(col(Turn.id)).order_by(col(Turn.id)))).scalars().all())
    rows = [{"t": turn, "s": side, "tokens": int(styles[i, 4 * k]),
             "text": f"Answer {i}." + ("\n**note**" if bold[i, k] else "")}
            for i, turn in enumerate(turns) for k, side in enumerate("ab")]
    statement = (update(Response).where(col(Response.turn_id) == bindparam("t"), col(Response.side) == bindparam("s"))
                 .values(output_tokens=bindparam("tokens"), text=bindparam("text")))
    async with db.transaction() as session:
        connection = await session.connection()
        await connection.execute(statement.execution_options(synchronize_session=False), rows)


def ratings_of(report: Report) -> dict[str, tuple[float, float]]:
    """Per model: (raw rating, style-controlled rating)."""
    assert report.style_control is not None
    return {r.model: (r.raw.rating, r.controlled.rating) for r in report.style_control.ratings}


async def test_the_verbose_models_lead_shrinks_under_style_control(db: Database) -> None:
    await store_length_biased(db)
    report = await build_report(db, Filters())
    style = report.style_control
    assert style is not None and style.battles == report.votes == VOTES
    ratings = ratings_of(report)
    raw_lead = ratings["verbose"][0] - ratings["concise"][0]
    controlled_lead = ratings["verbose"][1] - ratings["concise"][1]
    assert raw_lead > 150 and abs(controlled_lead) < 60  # the lead was the length's
    by_model = {r.model: r for r in style.ratings}
    assert by_model["verbose"].raw.rank == 1 and by_model["concise"].raw.rank == 3
    assert by_model["verbose"].controlled.rank == by_model["concise"].controlled.rank == 1
    assert [r.raw for r in sorted(style.ratings, key=lambda r: -r.raw.rating)] == report.bradley_terry
    coefficients = {c.feature: c for c in style.coefficients}
    assert list(coefficients) == ["length", "headers", "lists", "bold"]
    assert coefficients["length"].lower > 0 and coefficients["length"].elo_per_sd > 0
    assert coefficients["bold"].lower < 0 < coefficients["bold"].upper  # the coin flip sways nobody
    assert coefficients["headers"].coefficient == pytest.approx(0, abs=1e-9)  # never varies: prior mode
    assert style.unvaried == ["headers", "lists"]
    assert "Laplace" in report.interval_method and style.weighting == "none (every vote counts 1)"

    # JSON: what `report --json` prints.
    carried = json.loads(report.model_dump_json())
    assert carried["interval_method"] == report.interval_method
    first = carried["style_control"]["ratings"][0]
    assert set(first) == {"model", "raw", "controlled"}
    assert {"rating", "lower", "upper", "rank", "battles"} <= set(first["controlled"])
    assert carried["style_control"]["coefficients"][0]["feature"] == "length"

    # Text: the tables and the lines the terminal prints.
    tables = {t.title.split(" (")[0].split(":")[0]: t for t in report_tables(report)}
    side_by_side, coefficient_table = tables["Style control"], tables["Style coefficients"]
    assert side_by_side.header[:5] == ["model", "raw rating (95% interval)", "raw rank",
                                       "style-controlled rating (95% interval)", "controlled rank"]
    verbose = next(row for row in side_by_side.rows if row[0] == "verbose")
    assert verbose[2] == "1" and verbose[4] == "1" and verbose[5].startswith("-")
    assert coefficient_table.rows[0][0] == "length (output tokens)" and coefficient_table.rows[0][1].startswith("+")
    assert coefficient_table.rows[1] == ["markdown headers", "-", "never differs between the answers", "-"]
    assert report.interval_method in report_lines(report)
    console = Console(record=True, width=240)
    print_report(report, console)
    printed = console.export_text()
    assert "Style control" in printed and "length (output tokens)" in printed and "Laplace" in printed

    # HTML: the same tables.
    page = render_html(report, {})
    assert "<h2>Style control: ratings without and with" in page and "<h2>Style coefficients" in page
    assert "<th>style-controlled rating (95% interval)</th>" in page and "<td>verbose</td>" in page
    # The in-app leaderboard: the same tables as markdown.
    from playground.ui.leaderboard import markdown_of

    assert "### Style control: ratings without and with" in markdown_of(report)

    # Filters apply to both fits: two models, their battles only.
    pair = await build_report(db, Filters(models=("verbose", "concise")))
    assert pair.style_control is not None and pair.style_control.battles == pair.votes < VOTES
    assert set(ratings_of(pair)) == {"verbose", "concise"}

    # Weights apply to both fits alike: votes weighted 4 count as four votes, intervals halve.
    data = await collect(db, Filters())
    weighted = summarize(data, sampling_weights=[4.0] * VOTES)
    assert weighted.style_control is not None and "probability the pair was drawn" in weighted.style_control.weighting
    for plain_row, heavy_row in zip(style.ratings, weighted.style_control.ratings, strict=True):
        for plain, heavy in ((plain_row.raw, heavy_row.raw), (plain_row.controlled, heavy_row.controlled)):
            assert heavy.upper - heavy.lower == pytest.approx((plain.upper - plain.lower) / 2, rel=0.05)


def test_votes_without_both_answers_are_left_out_of_both_columns() -> None:
    rng = np.random.default_rng(4)
    simulated, styles = simulate_styled_battles(dict.fromkeys(SHAPES, 1000.0), 400, rng, length_bias=2.0,
                                                shapes=SHAPES)
    battles = [Battle(*b) for b in simulated]  # type: ignore[arg-type]
    answer_styles = [(AnswerStyle(*map(int, row[:4])), AnswerStyle(*map(int, row[4:]))) for row in styles]
    with_gaps = [None if i % 4 == 0 else s for i, s in enumerate(answer_styles)]
    report = summarize(ReportData(Filters(), battles, [], [], battle_styles=with_gaps))
    assert report.style_control is not None and report.style_control.battles == 300 and report.votes == 400
    assert {r.raw.battles for r in report.style_control.ratings} != {r.battles for r in report.bradley_terry}
    # Styles not loaded (a report built from bare battles): no style control, the rest as before.
    bare = summarize(ReportData(Filters(), battles, [], []))
    assert bare.style_control is None and bare.bradley_terry == report.bradley_terry
    assert not any(t.title.startswith("Style") for t in report_tables(bare))
    one_model = summarize(ReportData(Filters(), [Battle("x", "x", "tie")], [], [],
                                     battle_styles=[answer_styles[0]]))
    assert one_model.style_control is None


def test_report_json_from_the_command_line_carries_style_control(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"

    async def fill() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            await store_length_biased(db, 600)
        finally:
            await db.dispose()

    asyncio.run(fill())
    done = playground("report", "--json", "--weight-by-sampling", db_url=url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    style = report["style_control"]
    assert style["battles"] == 600 and "probability the pair was drawn" in style["weighting"]
    lead = {r["model"]: (r["raw"]["rating"], r["controlled"]["rating"]) for r in style["ratings"]}
    assert lead["verbose"][0] - lead["concise"][0] > lead["verbose"][1] - lead["concise"][1]
    assert style["coefficients"][0]["feature"] == "length" and style["coefficients"][0]["coefficient"] > 0
    assert report["interval_method"].startswith("Bradley-Terry 95% intervals: Laplace")
