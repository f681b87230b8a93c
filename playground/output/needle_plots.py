"""Needle-in-a-haystack results drawn: one heat map per model, side by side (matplotlib's object
API, never pyplot: no global state, so the app can draw for several raters at once), and a
self-contained HTML page with the heat maps and a table per model.

Rows are the lengths (shortest at the top), columns the depths; a cell's colour is its hit rate
(red 0 to green 1), its text ``hits/n``; a cell with nothing answered is left blank, and ``*``
marks a cell where a document was cut to fit the model's window (the needle may be gone).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from html import escape

import numpy as np
from matplotlib.figure import Figure

from playground.evalsets.needle import length_label
from playground.store.needle_queries import NeedleGrid

CUT_NOTE = "* a document was cut to fit the model's context window (its truncation policy)"


def needle_heat_maps(grid: NeedleGrid) -> bytes | None:
    """PNG bytes: one heat map per model of ``grid`` side by side, the same colour scale for all;
    None when nothing in the grid was answered (nothing to draw)."""
    if grid.empty or not grid.lengths or not grid.depths:
        return None
    models = list(grid.models)
    width = max(3.5, 0.75 * len(grid.depths) + 1.5)
    height = max(2.8, 0.45 * len(grid.lengths) + 1.8)
    # Constrained layout keeps the shared labels, the colour bar and the note clear of the maps.
    figure = Figure(figsize=(width * len(models) + 1.5, height), layout="constrained")
    axes = figure.subplots(1, len(models), squeeze=False, sharey=True)[0]
    image = None
    for ax, model in zip(axes, models, strict=True):
        rates = np.full((len(grid.lengths), len(grid.depths)), np.nan)
        for i, length in enumerate(grid.lengths):
            for j, depth in enumerate(grid.depths):
                cell = grid.cell(model, length, depth)
                if cell.rate is not None:
                    rates[i, j] = cell.rate
                if cell.n or cell.errors:
                    # White on the dark ends of the scale, black on the light middle.
                    dark = cell.rate is not None and not 0.2 <= cell.rate <= 0.85
                    ax.text(j, i, cell.text if cell.n else "failed", ha="center", va="center", fontsize=8,
                            color="white" if dark else "black")
        image = ax.imshow(np.ma.masked_invalid(rates), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(grid.depths)), [f"{d}%" for d in grid.depths])
        ax.set_yticks(range(len(grid.lengths)), [length_label(n) for n in grid.lengths])
        ax.set_title(model)
    assert image is not None  # at least one model: the grid is not empty
    figure.colorbar(image, ax=list(axes), label="hit rate", shrink=0.9)
    cut = any(cell.cut for by_model in grid.cells.values() for cell in by_model.values())
    figure.supxlabel("needle depth (share of the document before it)" + (f"\n{CUT_NOTE}" if cut else ""),
                     fontsize=9)
    figure.supylabel("document length (tokens)", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def needle_rows(grid: NeedleGrid, model: str) -> tuple[list[str], list[list[str]]]:
    """A model's table: the header (length, then each depth) and one row per length of hits/n."""
    header = ["length", *(f"{depth}%" for depth in grid.depths)]
    rows = [[length_label(length), *(grid.cell(model, length, depth).text for depth in grid.depths)]
            for length in grid.lengths]
    return header, rows


def needle_page(grid: NeedleGrid, title: str = "needle in a haystack") -> str:
    """A self-contained HTML page: the heat maps (embedded PNG) and a table per model."""
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(title)}</title>",
             "<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:4px 8px}"
             "th{background:#f3f3f3}img{max-width:100%}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>Generated {escape(datetime.now(UTC).isoformat(timespec='seconds'))}; models: "
             f"{escape(' vs '.join(grid.models))}. Each cell: answers containing the code / answers.</p>"]
    png = needle_heat_maps(grid)
    if png is None:
        parts.append("<p>No answers stored for this grid yet.</p>")
    else:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="needle heat maps" src="data:image/png;base64,{data}">')
    for model in grid.models:
        header, rows = needle_rows(grid, model)
        parts.append(f"<h2>{escape(model)}</h2><table><thead><tr>")
        parts += [f"<th>{escape(cell)}</th>" for cell in header]
        parts.append("</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    parts.append(f"<p>{escape(CUT_NOTE)}</p></body></html>")
    return "\n".join(parts)
