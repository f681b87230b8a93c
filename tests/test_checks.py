"""Automatic checks: tricky cases of the "contains the reference answer" rule and constraints."""

from __future__ import annotations

import pytest

from playground.evalsets.checks import check_constraints, contains_reference, numbers_in
from playground.evalsets.prompt_sets import PromptItem

CASES = [
    # (answer, reference, expected)
    ("The answer is 42.", "42", True),
    ("15 + 27 = 42", "42", True),
    ("It is 41 or so.", "42", False),
    ("2**10 = 1,024", "1024", True),  # thousands separator
    ("2**10 = 1024", "1,024", True),
    ("１０２４", "1024", True),  # full-width digits
    ("The formula of water is H₂O.", "H2O", True),  # subscript
    ("ＨＴＭＬ and h2o", "H2O", True),  # full-width letters, case
    ("<think>maybe 41? no, 43</think>The result is 42.", "42", True),
    ("<think>It is 42, surely.</think>I would say 41.", "42", False),  # only in the reasoning
    ("<think>unfinished thought about 42", "42", False),
    ("No.", "no", True),
    ("It is not possible to tell.", "no", False),  # "no" is not in "not"
    ("The capital of France is Paris.", "Paris", True),
    ("PARIS", "paris", True),
    ("Parisian food is great", "Paris", False),
    ("中国的首都是北京。", "北京", True),
    ("北京市", "北京", True),
    ("上海", "北京", False),
    ("99 × 99 = 9801", "9801", True),
    ("The ball costs 5 cents.", "5", True),
    ("The ball costs $0.05.", "5", False),  # a different number: the set asks for cents
    ("There are 8 planets.", "8", True),
    ("There are 18 planets.", "8", False),
    ("-3 degrees", "-3", True),
    ("30", "30.0", True),
    ("", "42", False),
    # CJK characters are word characters to the regex, yet a number written right after (or
    # before) them is still a number: Chinese and Japanese put no space there.
    ("所以答案等于1024。", "1024", True),
    ("共计1,024个", "1024", True),
    ("答えは1024です", "1024", True),
    ("답은 1024입니다", "1024", True),
    ("等于1025。", "1024", False),
    ("abc1024", "1024", False),  # after Latin letters: a code or a name, not a number
]


@pytest.mark.parametrize(("answer", "reference", "expected"), CASES)
def test_contains_reference(answer: str, reference: str, expected: bool) -> None:
    assert contains_reference(answer, reference) is expected


def test_numbers_are_read_with_separators_and_signs() -> None:
    assert [str(n) for n in numbers_in("1,024 and 12,34 and -7 and 3.5 and x2")] == ["1024", "12", "34", "-7", "3.5"]


def test_numbers_next_to_cjk_text_are_read() -> None:
    assert [str(n) for n in numbers_in("所以答案等于1024。共计1,024个，x2 和 3.5米")] == ["1024", "1024", "3.5"]


def item(**constraints_and_more: object) -> PromptItem:
    return PromptItem.model_validate({
        "id": "x", "category": "if", "difficulty": "easy", "language": "en", "prompt": "Do it.",
        **constraints_and_more,
    })


def test_constraints_pass_and_fail_with_a_reason() -> None:
    constraints = item(constraints=[
        {"type": "max_words", "value": 5}, {"type": "bullet_count", "value": 2},
        {"type": "language", "value": "en"}, {"type": "must_include", "value": "apple"},
        {"type": "lowercase"},
    ]).constraints
    good = check_constraints("<think>Let me write MANY words here first</think>- apple\n- pear", constraints)
    assert [r.passed for r in good] == [True, True, True, True, True]
    bad = check_constraints("* One Apple\n* two\n* three and more words", constraints)
    assert [r.passed for r in bad] == [False, False, True, True, False]
    assert bad[0].detail == "7 words" and bad[1].detail == "3 bullet points"


def test_json_and_chinese_constraints() -> None:
    json_item = item(constraints=[{"type": "json", "keys": ["name", "age"]}]).constraints
    assert check_constraints('```json\n{"name": "A", "age": 3}\n```', json_item)[0].passed
    result = check_constraints('{"name": "A"}', json_item)[0]
    assert not result.passed and result.detail == "missing age"
    assert not check_constraints("name: A", json_item)[0].passed
    zh = item(constraints=[{"type": "language", "value": "zh"}, {"type": "max_words", "value": 10}]).constraints
    assert [r.passed for r in check_constraints("北京是中国的首都。", zh)] == [True, True]
    assert [r.passed for r in check_constraints("Beijing is the capital.", zh)] == [False, True]


def test_verdict_sums_up_for_a_person() -> None:
    from playground.evalsets.checks import verdict

    constraints = item(constraints=[{"type": "max_words", "value": 3}, {"type": "lowercase"}]).constraints
    assert verdict("<think>x</think>It is 42.", ["42"], []) == "✓ contains the reference answer"
    assert verdict("It is 41.", ["42"], []) == "✗ does not contain the reference answer"
    assert verdict("all good", [], constraints) == "2/2 constraints met ✓"
    assert verdict("Far Too Many Words", [], constraints) == (
        "0/2 constraints met: ✗ at most 3 words (4 words); ✗ all lowercase")
    assert verdict("anything", [], []) is None
