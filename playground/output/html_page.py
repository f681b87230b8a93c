"""The report as one self-contained HTML page: tables and plots, images embedded as data URIs
so the file can be mailed or archived on its own."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html import escape

from playground.output.tables import report_lines, report_tables
from playground.stats.report import Report

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f3f3f3; }
.note { color: #8a5a00; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def render_html(report: Report, plots: dict[str, bytes]) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>playground report</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>playground report</h1>",
        f"<p>Generated {escape(datetime.now(UTC).isoformat(timespec='seconds'))}; "
        f"filters: {escape(report.filters_text)}</p>",
    ]
    notes = set(report.notes)
    for line in report_lines(report):
        parts.append(f'<p class="note">{escape(line)}</p>' if line in notes else f"<p>{escape(line)}</p>")
    for table in report_tables(report):
        parts.append(f"<h2>{escape(table.title)}</h2><table><thead><tr>")
        parts += [f"<th>{escape(h)}</th>" for h in table.header]
        parts.append("</tr></thead><tbody>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</tbody></table>")
    for title, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<h2>{escape(title)}</h2><img alt="{escape(title)}" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    return "\n".join(parts)
