"""Automatic checks of an answer, shown beside the human scores.

``contains_reference``: does the answer contain the reference answer? The reasoning (``<think>``
blocks) is removed first (a model may try several answers while thinking); text is compared
after Unicode NFKC normalization and case folding, so ``H₂O`` matches ``H2O`` and full-width
digits match ASCII ones. A numeric reference is compared with the numbers found in the answer
(``1,024`` and ``1024`` are the same number); a short word is matched as a whole word (``no``
is not found in ``not``); other text, e.g. Chinese, as a substring.

``check_constraints``: the instruction-following constraints of a prompt item.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playground.evalsets.prompt_sets import PromptItem

THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
# A letter, digit or underscore that is not CJK: what may not touch a number. Chinese, Japanese
# and Korean write numbers right against their words ("等于1024。", "共计1,024个") and those
# characters are \w to the regex, so they are taken out; "abc123" stays a name, not a number.
_GLUED = r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
# 1,024 / 1,024.5 / -3 / 2.50 / .5 ; thousands groups only where they are well formed.
NUMBER = re.compile(
    rf"(?<!{_GLUED})(?<!\.)[-−]?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)?(?:\.\d+)?(?!{_GLUED})"
    rf"|(?<!{_GLUED})(?<!\.)[-−]?\d+"
)
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def strip_reasoning(text: str) -> str:
    """The answer without ``<think>...</think>`` (an unclosed block runs to the end)."""
    return THINK.sub(" ", text).replace("</think>", " ")


def normalize(text: str) -> str:
    """NFKC (subscripts, full-width forms, ligatures to their plain forms), case-folded, with
    runs of white space made one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def numbers_in(text: str) -> list[Decimal]:
    found = []
    for match in NUMBER.finditer(normalize(text)):
        token = match.group(0).replace(",", "").replace("−", "-")
        if not any(ch.isdigit() for ch in token):
            continue
        try:
            found.append(Decimal(token))
        except InvalidOperation:
            continue
    return found


def _as_number(reference: str) -> Decimal | None:
    candidates = numbers_in(reference)
    stripped = normalize(reference).replace(",", "").strip()
    if len(candidates) == 1 and re.fullmatch(r"[-−]?\d+(\.\d+)?", stripped):
        return candidates[0]
    return None


def contains_reference(answer: str, reference: str) -> bool:
    answer = strip_reasoning(answer)
    number = _as_number(reference)
    if number is not None:
        return any(found == number for found in numbers_in(answer))
    wanted, text = normalize(reference), normalize(answer)
    if not wanted:
        return False
    if CJK.search(wanted):
        return wanted in text
    return re.search(r"(?<!\w)" + re.escape(wanted) + r"(?!\w)", text) is not None


def matches_any(answer: str, references: Sequence[str]) -> bool | None:
    """True / False, or None when the item has no reference to check against."""
    if not references:
        return None
    return any(contains_reference(answer, reference) for reference in references)


@dataclass(frozen=True)
class ConstraintResult:
    constraint: str
    passed: bool
    detail: str


WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def _words(text: str) -> int:
    # Words are runs of letters and digits (bullets and punctuation are not words); CJK text has
    # no spaces, so each of its characters counts as a word, as length limits usually mean.
    return len(CJK.findall(text)) + len(WORD.findall(CJK.sub(" ", text)))


def _bullets(text: str) -> int:
    return sum(1 for line in text.splitlines() if re.match(r"\s*([-*•]|\d+[.)])\s+\S", line))


def _json_object(text: str) -> Any:
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    return json.loads(fenced.group(1) if fenced else text)


def check_constraint(answer: str, constraint: Any) -> ConstraintResult:
    text = strip_reasoning(answer).strip()
    kind = constraint.type
    # Every constraint with a limit or a text has a "value" (the prompt-set schema checked it).
    value: Any = getattr(constraint, "value", None)
    if kind == "max_words":
        n = _words(text)
        return ConstraintResult(f"at most {value} words", n <= value, f"{n} words")
    if kind == "min_words":
        n = _words(text)
        return ConstraintResult(f"at least {value} words", n >= value, f"{n} words")
    if kind == "max_chars":
        return ConstraintResult(f"at most {value} characters", len(text) <= value, f"{len(text)} characters")
    if kind == "bullet_count":
        n = _bullets(text)
        return ConstraintResult(f"exactly {value} bullet points", n == value, f"{n} bullet points")
    if kind == "json":
        try:
            data = _json_object(text)
        except (json.JSONDecodeError, ValueError):
            return ConstraintResult("valid JSON", False, "not valid JSON")
        missing = [k for k in constraint.keys if not (isinstance(data, dict) and k in data)]
        return ConstraintResult("valid JSON" + (f" with keys {', '.join(constraint.keys)}" if constraint.keys else ""),
                                not missing, f"missing {', '.join(missing)}" if missing else "ok")
    if kind == "language":
        letters = [c for c in text if c.isalpha()]
        cjk = sum(1 for c in letters if CJK.match(c))
        share = cjk / len(letters) if letters else 0.0
        passed = share >= 0.5 if value == "zh" else (bool(letters) and share < 0.05)
        return ConstraintResult(f"written in {value}", passed, f"{share:.0%} CJK letters")
    if kind == "must_include":
        return ConstraintResult(f"includes {value!r}", normalize(value) in normalize(text), "")
    if kind == "must_not_include":
        return ConstraintResult(f"does not include {value!r}", normalize(value) not in normalize(text), "")
    if kind == "lowercase":
        return ConstraintResult("all lowercase", text == text.lower() and any(c.isalpha() for c in text), "")
    if kind == "ends_with":
        return ConstraintResult(f"ends with {value!r}", normalize(text).endswith(normalize(value)), "")
    raise ValueError(f"unknown constraint {kind!r}")


def check_constraints(answer: str, constraints: Iterable[Any]) -> list[ConstraintResult]:
    return [check_constraint(answer, c) for c in constraints]


def verdict(answer: str, references: Sequence[str], constraints: Sequence[Any]) -> str | None:
    """One line for a person: the reference check and the constraints met, or None when the
    item has nothing to check."""
    parts = []
    matched = matches_any(answer, references)
    if matched is not None:
        parts.append("✓ contains the reference answer" if matched else "✗ does not contain the reference answer")
    if constraints:
        results = check_constraints(answer, constraints)
        failed = [f"{r.constraint} ({r.detail})" if r.detail else r.constraint for r in results if not r.passed]
        met = f"{len(results) - len(failed)}/{len(results)} constraints met"
        parts.append(met + (": ✗ " + "; ✗ ".join(failed) if failed else " ✓"))
    return " · ".join(parts) or None


@dataclass(frozen=True)
class AnswerCheck:
    """What the automatic checks found in one answer, as stored with it."""

    verdict: str | None  # one line for people; None when the item has nothing to check
    reference_match: bool | None  # None when the item has no reference answer


def check_answer(answer: str, item: PromptItem) -> AnswerCheck:
    return AnswerCheck(verdict(answer, item.references, item.constraints), matches_any(answer, item.references))


def check_basis(prompt_set: str, item: PromptItem) -> dict[str, Any]:
    """What an answer was checked against, stored beside the verdict: the item may be edited
    later, and the stored verdict must still say what it meant."""
    return {
        "prompt_set": prompt_set, "item_id": item.id, "references": list(item.references),
        "constraints": [constraint.model_dump() for constraint in item.constraints],
    }
