"""The text of the files a rater attaches (long-context demos), and how documents go before a question.

A pure library: bytes in, an :class:`ExtractedDocument` or a :class:`DocumentError` out. No chainlit,
no database; the UI reads the upload and the store keeps the result (``documents`` table, keyed by
the SHA-256 of the file's bytes, so a file attached twice is stored once).

Choices worth knowing:

* An encrypted PDF that opens with the empty password (owner-restricted: no password is asked by
  any viewer, only copying or printing is "forbidden") is read, as every viewer shows it to the
  rater anyway; one that needs a password is refused.
* Text that is not UTF-8 (or UTF-16/32 with a byte-order mark) is read as Windows-1252 only when
  its bytes above 0x7F come alone or in pairs, as the accented letters and quotes of Western
  European text do; other legacy encodings (Cyrillic, Greek, CJK) write whole words with such
  bytes and are left to charset-normalizer, whose guess is taken only when it recognised a
  language. Anything else is refused ("unknown encoding") rather than turned into mojibake.
* :func:`render_documents` puts each document in a ``<document name="...">`` block and escapes the
  ``<`` of any ``<document`` or ``</document`` tag inside a document's text (``&lt;/document>``),
  so only the blocks' own tags open and close blocks. Nothing else in the text is changed.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath, PureWindowsPath
from typing import Literal, Protocol, get_args

from playground.core.config import DocumentLimits, config_path
from playground.evalsets.text_decoding import DocumentError, decode_text, normalise_newlines

DocumentKind = Literal["text", "markdown", "pdf", "html", "code", "pasted"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)

PASTED_NAME = "pasted text"

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".log", ".rst", ".adoc"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdown", ".mkd"})
HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
CODE_EXTENSIONS = frozenset({
    ".py", ".pyi", ".ipynb", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".vue", ".svelte",
    ".java", ".kt", ".kts", ".scala", ".groovy", ".gradle", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp",
    ".hh", ".cs", ".go", ".rs", ".rb", ".php", ".pl", ".pm", ".swift", ".m", ".mm", ".r", ".jl", ".lua",
    ".dart", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".lisp", ".el", ".sh", ".bash", ".zsh",
    ".fish", ".ps1", ".bat", ".cmd", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
    ".env", ".xml", ".svg", ".sql", ".css", ".scss", ".sass", ".less", ".csv", ".tsv", ".tex", ".proto",
    ".graphql", ".cmake", ".mk", ".diff", ".patch", ".tf",
})
# Source files whose name has no extension.
CODE_NAMES = frozenset({"makefile", "dockerfile", "containerfile", "jenkinsfile", "gemfile", "rakefile"})

# A tag in a document's text that would open or close a block of render_documents.
_BLOCK_TAG = re.compile(r"<(?=\s*/?\s*document\b)", re.IGNORECASE)
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class ExtractedDocument:
    id: str  # SHA-256 (hex) of the file's bytes; of the UTF-8 text for a pasted one
    name: str
    kind: DocumentKind
    text: str
    size_bytes: int
    pages: int | None = None  # PDF page count


class NamedText(Protocol):
    """What render_documents needs: an ExtractedDocument, or a stored Document row."""

    @property
    def name(self) -> str: ...

    @property
    def text(self) -> str: ...


def _size(n: int) -> str:
    if n < 1000:
        return "1 byte" if n == 1 else f"{n} bytes"
    unit, factor = next((u, f) for u, f in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)) if n >= f)
    return f"{n / factor:.1f}".removesuffix(".0") + f" {unit}"


def _setting(field: str) -> str:
    # The field is what an operator changes; the file is the config the app was started with.
    return f"documents.{field} in {config_path()}"


def _over_size(size: int, limit: int) -> str:
    shown, limit_shown = _size(size), _size(limit)
    if shown == limit_shown:  # 20,000,001 bytes would read "20 MB is over the limit of 20 MB"
        shown, limit_shown = f"{size:,} bytes", f"{limit:,} bytes"
    return f"{shown} is over the limit of {limit_shown} ({_setting('max_bytes')})"


def check_batch(files: list[tuple[str, int]], limits: DocumentLimits) -> None:
    """Refuse a message's attachments before reading them: too many files, or any file too large.

    ``files`` holds (name, size in bytes) as the upload reports them. Every problem is named, one a line.
    """
    problems: list[str] = []
    if len(files) > limits.max_files:
        names = ", ".join(name for name, _ in files)
        problems.append(
            f"{len(files)} files attached ({names}): the limit is {limits.max_files} per message "
            f"({_setting('max_files')})"
        )
    for name, size in files:
        if size > limits.max_bytes:
            problems.append(f"{name}: {_over_size(size, limits.max_bytes)}")
    if problems:
        raise DocumentError("\n".join(problems))


def _extension(name: str) -> str:
    # Browsers send a bare file name, but a Windows path or a folder in it must not hide the suffix.
    return PurePosixPath(_base_name(name)).suffix


def _base_name(name: str) -> str:
    return PureWindowsPath(PurePosixPath(name).name).name.lower()


class _HtmlText(HTMLParser):
    """Readable text of an HTML page: no script, style or template, paragraphs kept as blank lines."""

    SKIP = frozenset({"script", "style", "template", "noscript"})
    # Each starts and ends a paragraph (a blank line).
    BLOCKS = frozenset({
        "address", "article", "aside", "blockquote", "body", "caption", "details", "dialog", "div", "dl",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hgroup", "hr", "html", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "title", "ul",
    })
    # Each starts a line of its own.
    LINES = frozenset({"li", "tr", "dt", "dd", "option"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._skip = 0
        self._pre = 0
        self._prefix = ""  # "- " before a list item's text, " | " between table cells

    def _break(self, newlines: int) -> None:
        self._pending = min(2, max(self._pending, newlines))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "br":
            self._pending = min(2, self._pending + 1)
        elif tag in self.BLOCKS:
            self._break(2)
            if tag == "pre":
                self._pre += 1
        elif tag in self.LINES:
            self._break(1)
            self._prefix = "- " if tag == "li" else ""
        elif tag in ("td", "th") and self._out and not self._out[-1].endswith("\n") and not self._pending:
            self._prefix = " | "  # a cell after another on the same row

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.SKIP:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self._break(2)
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in self.LINES:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)
            if self._pending or self._prefix or not self._out or self._out[-1].endswith("\n"):
                data = data.lstrip()
            if not data:
                return  # blank space between tags: a pending break or cell separator waits for real text
        if self._out and (self._pending or self._prefix):
            self._out[-1] = self._out[-1].rstrip(" ")
        if self._pending and self._out:
            self._out.append("\n" * self._pending)
        self._pending = 0
        self._out.append(self._prefix + data)
        self._prefix = ""

    def text(self) -> str:
        self.close()
        lines = "".join(self._out).split("\n")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def html_to_text(markup: str) -> str:
    """The readable text of an HTML page (what a browser shows, without layout)."""
    parser = _HtmlText()
    parser.feed(markup)
    return parser.text()


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _pdf_text(name: str, data: bytes, limits: DocumentLimits) -> tuple[str, int]:
    # Imported here so that reading text files never pays for pypdf's import.
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    # pypdf raises many kinds of exception on a damaged file (its own, KeyError, struct.error...):
    # every one of them means the same to the rater, so all become a DocumentError naming the file.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise DocumentError(
                    f"{name}: the PDF is encrypted with AES and the cryptography package is not installed"
                ) from None
            if opened == PasswordType.NOT_DECRYPTED:
                raise DocumentError(f"{name}: the PDF is encrypted (it needs a password)")
        count = len(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(f"{name}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    if count == 0:
        raise DocumentError(f"{name}: the PDF has no pages")
    if count > limits.max_pages:
        raise DocumentError(
            f"{name}: {count:,} pages is over the limit of {limits.max_pages:,} ({_setting('max_pages')})"
        )
    texts: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text()
        except Exception as exc:  # as above: a damaged page, whatever pypdf raises for it
            raise DocumentError(f"{name}: page {number} could not be read ({type(exc).__name__}: {exc})") from None
        text = normalise_newlines(text).strip()
        if text:  # an empty page (a figure, a blank) would only add blank lines
            texts.append(text)
    if not texts:
        raise DocumentError(f"{name}: no text in its {_plural(count, 'page')} (an image-only PDF?)")
    return "\n\n".join(texts), count


def _kind_of(name: str, text: str) -> DocumentKind:
    extension = _extension(name)
    if extension in TEXT_EXTENSIONS:
        return "text"
    if extension in MARKDOWN_EXTENSIONS:
        return "markdown"
    if extension in HTML_EXTENSIONS:
        return "html"
    if extension in CODE_EXTENSIONS or _base_name(name) in CODE_NAMES:
        return "code"
    head = text.lstrip()[:100].lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    return "text"


def extract_document(name: str, data: bytes, limits: DocumentLimits) -> ExtractedDocument:
    """The text of an attached file, or a :class:`DocumentError` naming it and saying why not."""
    if len(data) > limits.max_bytes:
        raise DocumentError(f"{name}: {_over_size(len(data), limits.max_bytes)}")
    if not data:
        raise DocumentError(f"{name}: the file is empty")
    digest = hashlib.sha256(data).hexdigest()
    pages: int | None = None
    kind: DocumentKind
    if data.startswith(b"%PDF-") or _extension(name) == ".pdf":
        # The standard lets a PDF's header sit anywhere in its first 1024 bytes.
        if b"%PDF-" not in data[:1024]:
            raise DocumentError(f"{name}: not a PDF (no %PDF- header)")
        text, pages = _pdf_text(name, data, limits)
        kind = "pdf"
    else:
        extension = _extension(name)
        decoded = decode_text(name, data, is_html=extension in HTML_EXTENSIONS)
        kind = _kind_of(name, decoded)
        text = html_to_text(decoded) if kind == "html" else decoded
        if not text.strip():
            what = "no text once its markup is dropped" if kind == "html" else "no text (only blank space)"
            raise DocumentError(f"{name}: {what}")
    return ExtractedDocument(id=digest, name=name, kind=kind, text=text, size_bytes=len(data), pages=pages)


def is_long_paste(text: str, limits: DocumentLimits) -> bool:
    """Whether a prompt typed or pasted in the chat box is to be kept as a document."""
    return len(text) > limits.paste_threshold_chars


def pasted_document(text: str, limits: DocumentLimits) -> ExtractedDocument:
    """A long text pasted in the chat box, as a document.

    Its newlines are normalised first, so that ``id`` is the SHA-256 of the stored text's UTF-8 bytes
    and the same paste from Windows and from Linux is one document.
    """
    text = normalise_newlines(text)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which no database column takes either
        raise DocumentError(f"{PASTED_NAME}: not valid Unicode (a lone surrogate)") from None
    if len(data) > limits.max_bytes:
        raise DocumentError(f"{PASTED_NAME}: {_over_size(len(data), limits.max_bytes)}")
    if not text.strip():
        raise DocumentError(f"{PASTED_NAME}: no text")
    return ExtractedDocument(
        id=hashlib.sha256(data).hexdigest(), name=PASTED_NAME, kind="pasted", text=text, size_bytes=len(data)
    )


def render_documents(documents: Sequence[NamedText]) -> str:
    """The documents as they go before the question: one ``<document name="...">`` block each, in order.

    The text is kept as it is, except that the ``<`` of a ``<document`` or ``</document`` tag in it
    becomes ``&lt;``, so a document cannot close its own block early nor open a block with another
    name. A pure function of its input: the same documents give the same bytes, which keeps a
    server's prefix cache warm for follow-up questions.
    """
    blocks: list[str] = []
    for document in documents:
        name = html.escape(_NAME_UNSAFE.sub(" ", document.name), quote=True)
        text = _BLOCK_TAG.sub("&lt;", document.text.strip("\n"))
        blocks.append(f'<document name="{name}">\n{text}\n</document>')
    return "\n\n".join(blocks)
