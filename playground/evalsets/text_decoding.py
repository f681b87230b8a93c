"""Bytes of a text file to its text: byte-order marks, UTF-8, Windows-1252 for Western European
text, other legacy encodings only when charset-normalizer recognises a language, and binary data
refused by its control characters (see :mod:`playground.evalsets.documents` for the choices).
"""

from __future__ import annotations

import codecs
import re


class DocumentError(ValueError):
    """A file that cannot be used as a document; the message names the file and the reason."""


# Above this share of control characters (tab, newlines, form feed and ESC, which logs with colours
# carry, not counted) a file is binary. Text has next to none; random bytes have about 10%.
_MAX_CONTROL_SHARE = 0.05
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_HIGH_RUNS = re.compile(rb"[\x80-\xff]+")
# Windows-1252 when the bytes above 0x7F come in runs shorter than this on average (see the documents module's doc).
_MAX_WESTERN_RUN = 2.0
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian mark starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _binary(name: str, why: str) -> DocumentError:
    return DocumentError(
        f"{name}: not text (binary data: {why}); attach text, Markdown, HTML, source code or PDF"
    )


def _check_controls(name: str, text: str) -> None:
    if text and len(_CONTROL_CHARS.findall(text)) > _MAX_CONTROL_SHARE * len(text):
        raise _binary(name, "mostly control characters")


def _declared_html_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        codec = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if codec.startswith(("utf-16", "utf-32")):
        return None  # a UTF-16 page has a byte-order mark; the HTML standard reads this label as UTF-8
    if codec in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"  # what browsers do: the C1 range of such pages holds Windows-1252 quotes
    return codec


def _looks_western(data: bytes) -> bool:
    runs = _HIGH_RUNS.findall(data)
    return not runs or sum(map(len, runs)) / len(runs) < _MAX_WESTERN_RUN


def _detect_legacy(data: bytes) -> str | None:
    # Imported here: only files that are neither UTF-8 nor Western European need it.
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    # On short text charset-normalizer guesses freely (4 bytes of "café" came back as UTF-16);
    # its guess is taken only when it also recognised a language in the decoded text.
    if best is None or best.coherence <= 0:
        return None
    return str(best.encoding)


def decode_text(name: str, data: bytes, *, is_html: bool = False) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                label = codec.removesuffix("-sig").upper()
                raise DocumentError(f"{name}: not valid {label} despite its byte-order mark") from None
            text = text.removeprefix("\ufeff")
            _check_controls(name, text)
            return normalise_newlines(text)
    if b"\x00" in data:
        # Every encoding without a byte-order mark that a text file here may use keeps NUL for NUL;
        # UTF-16 without one is not read (it would need guessing).
        raise _binary(name, "it has NUL bytes")
    # Counted in place (no copy of a long file): one pass per control byte, each a C loop.
    if sum(data.count(bytes((b,))) for b in _CONTROL_BYTES) > _MAX_CONTROL_SHARE * len(data):
        raise _binary(name, "mostly control characters")
    candidates: list[str] = ["utf-8"]
    if is_html:
        declared = _declared_html_charset(data)
        if declared is not None:
            candidates.append(declared)
    if _looks_western(data):
        candidates.append("cp1252")
    for codec in candidates:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):  # LookupError: a page declaring e.g. "base64"
            continue
        _check_controls(name, text)
        return normalise_newlines(text)
    detected = _detect_legacy(data)
    if detected is not None:
        try:
            text = data.decode(detected)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            _check_controls(name, text)
            return normalise_newlines(text)
    raise DocumentError(f"{name}: unknown encoding (not UTF-8 nor a legacy encoding recognised); save it as UTF-8")
