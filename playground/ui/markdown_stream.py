"""Markdown rendering of the answers, and an incremental renderer for an answer that grows.

The one :class:`MarkdownIt` the app renders answers with lives here (``panes.render_markdown`` is
this module's): commonmark + tables, raw HTML off (a model's output cannot inject markup), line
breaks kept, images shown as links (never fetched). No chainlit here: the bench and the tests use
it without a session.

:class:`StreamingMarkdown` is fed the growing text of one pane at every redraw. Re-rendering the
whole answer each time costs O(length) per redraw, O(length^2) per answer. Instead it keeps a
frozen prefix of top-level blocks that later text cannot change any more, with their HTML cached,
and parses only the text from the first unfrozen block on. A top-level block is frozen once
another top-level block has started after it on a *complete* line (a line still being typed may
turn out to be no new block at all: ``para\\n#`` is a heading that ``para\\n#x`` takes back). The
last block is never frozen, so an unfinished list, blockquote, fence or table stays in the tail.

One effect is global and is not tracked: a link reference definition (``[x]: url``) written after
a block that uses it changes that frozen block. So the final state is always one full render
(:meth:`StreamingMarkdown.finish` = :func:`render_markdown` of the whole text); the delta protocol
(``pane_delta``) brings the browser to it exactly, whatever the intermediate renders were.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict


def _image_as_link(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """``![alt](url)`` as ``<a href="url">alt</a>``: an <img> would be fetched as soon as the
    answer is shown, so a model could make every rater's browser call a URL of its choice (a
    tracking pixel). A link is only followed if the rater chooses to. markdown-it has already
    refused unsafe schemes (``javascript:`` and the like): such an image is plain text."""
    token = tokens[idx]
    alt = escapeHtml(self.renderInlineAsText(token.children, options, env))
    # A link cannot contain a link: an image inside one is its alt text (its URL is dropped).
    depth = sum(1 if t.type == "link_open" else -1 for t in tokens[:idx] if t.type in ("link_open", "link_close"))
    if depth > 0:
        return alt
    src = str(token.attrGet("src") or "")
    if src.startswith("data:"):  # an inline image (markdown-it lets data:image/* through): nothing to link to
        return alt or "[image]"
    src = escapeHtml(src)
    return f'<a href="{src}">{alt or src}</a>'


MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
MARKDOWN.add_render_rule("image", _image_as_link)


def render_markdown(text: str) -> str:
    return MARKDOWN.render(text)


# markdown-it's own normalisation (markdown_it.rules_core.normalize): its line numbers count
# these lines, so offsets into the text are taken on the normalised text.
_NEWLINES = re.compile(r"\r\n?")


def _normalized(text: str) -> str:
    return _NEWLINES.sub("\n", text).replace("\0", "\ufffd")


def _top_level_blocks(tokens: Sequence[Token]) -> list[tuple[int, int, int]]:
    """(first token, end token, first line) of each top-level block, in order."""
    blocks: list[tuple[int, int, int]] = []
    start = -1
    for i, token in enumerate(tokens):
        if token.level != 0:
            continue
        if token.nesting == 1:
            start = i
        elif token.nesting == 0 and token.map is not None:  # fence, code block, hr, heading-less leaves
            blocks.append((i, i + 1, token.map[0]))
        elif token.nesting == -1 and start >= 0:
            first_map = tokens[start].map
            blocks.append((start, i + 1, first_map[0] if first_map else 0))
            start = -1
    return blocks


class StreamingMarkdown:
    """One pane's renderer: :meth:`update` with the text so far at each redraw, :meth:`finish`
    with the whole text at the end. ``parsed_chars`` counts what went through the parser."""

    def __init__(self, markdown: MarkdownIt = MARKDOWN) -> None:
        self._md = markdown
        self.parsed_chars = 0
        self._reset()

    def _reset(self) -> None:
        self._frozen_src = ""  # the normalised text of the frozen blocks (ends at a line start)
        self._frozen_html = ""
        self._references: dict[str, Any] = {}  # link definitions seen in the frozen text

    def update(self, text: str) -> str:
        """The HTML of ``text``, parsing only what follows the frozen blocks. A text that does not
        extend the frozen prefix (never, for a stream) starts over."""
        source = _normalized(text)
        if not source.startswith(self._frozen_src):
            self._reset()
        tail = source[len(self._frozen_src):]
        env: dict[str, Any] = {"references": dict(self._references)}
        tokens = self._md.parse(tail, env)
        self.parsed_chars += len(tail)
        blocks = _top_level_blocks(tokens)
        complete_lines = tail.count("\n")  # lines [0, complete_lines) have their newline
        # The cut: the start of the last block that begins on a complete line, after a block.
        cut = len(blocks) - 1
        while cut > 0 and blocks[cut][2] >= complete_lines:
            cut -= 1
        options = self._md.options
        if cut <= 0:
            return self._frozen_html + self._md.renderer.render(tokens, options, env)
        frozen_end = blocks[cut][0]
        newly_frozen = self._md.renderer.render(tokens[:frozen_end], options, env)
        rest = self._md.renderer.render(tokens[frozen_end:], options, env)
        cut_offset = _line_offset(tail, blocks[cut][2])
        self._freeze(tail[:cut_offset], newly_frozen)
        return self._frozen_html + rest

    def _freeze(self, source: str, html: str) -> None:
        # The definitions written in the newly frozen text, for the blocks after it: parsed once
        # more on their own (a block starts there, so the definitions parse as in the whole text).
        env: dict[str, Any] = {"references": self._references}
        self._md.parse(source, env)
        self.parsed_chars += len(source)
        self._references = env["references"]
        self._frozen_src += source
        self._frozen_html += html

    def finish(self, text: str) -> str:
        """The final state: one full render, whatever the frozen blocks were (see the module)."""
        self.parsed_chars += len(text)
        return render_markdown(text)


def _line_offset(text: str, line: int) -> int:
    """The character offset where line ``line`` (0-based) of ``text`` starts."""
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset
