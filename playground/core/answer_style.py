"""How an answer is decorated: markdown headers, list items and bold spans, counted exactly as
FastChat counts them for lmarena's style-controlled leaderboard (fastchat/serve/monitor/
add_markdown_info.py): code blocks (```...```) removed first, then one regex per kind. Pure
functions over text, used by the report (playground/stats/style.py) and the FastChat export."""

from __future__ import annotations

import re
from typing import NamedTuple

_CODE_BLOCK = re.compile("```([^`]*)```")
HEADER_PATTERNS = {f"h{level}": re.compile(rf"^#{{{level}}}\s", re.MULTILINE) for level in range(1, 7)}
LIST_PATTERNS = {"ordered": re.compile(r"^\s*\d+\.\s", re.MULTILINE),
                 "unordered": re.compile(r"^\s*[-*+]\s", re.MULTILINE)}
BOLD_PATTERNS = {"**": re.compile(r"\*\*[^*\n]+\*\*"), "__": re.compile(r"__[^_\n]+__")}


class MarkdownCounts(NamedTuple):
    """Counts by kind, in FastChat's shapes: headers by level h1..h6, lists ordered/unordered,
    bold ``**``/``__``."""

    header: dict[str, int]
    list: dict[str, int]
    bold: dict[str, int]


def without_code_blocks(text: str) -> str:
    """The text with every ```...``` block removed, as FastChat removes them (each matched
    block's whole text replaced everywhere)."""
    for block in _CODE_BLOCK.findall(text):
        text = text.replace(block, "")
    return text


def markdown_counts(text: str) -> MarkdownCounts:
    plain = without_code_blocks(text)
    return MarkdownCounts(
        header={kind: len(p.findall(plain)) for kind, p in HEADER_PATTERNS.items()},
        list={kind: len(p.findall(plain)) for kind, p in LIST_PATTERNS.items()},
        bold={kind: len(p.findall(plain)) for kind, p in BOLD_PATTERNS.items()},
    )


class AnswerStyle(NamedTuple):
    """One answer's style features as totals: output tokens, headers, list items, bold spans."""

    tokens: int
    headers: int
    lists: int
    bold: int


def answer_style(text: str, output_tokens: int) -> AnswerStyle:
    counts = markdown_counts(text)
    return AnswerStyle(output_tokens, sum(counts.header.values()), sum(counts.list.values()),
                       sum(counts.bold.values()))
