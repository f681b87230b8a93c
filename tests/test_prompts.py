"""Prompt sets: the shipped ones are valid, and broken files name the file, the item and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.evalsets.checks import matches_any
from playground.evalsets.prompt_sets import (
    PromptSetError,
    available_sets,
    listed_step,
    load_listed_set,
    load_prompt_set,
)

QUICK_20 = {
    "math_01": "42", "math_02": "63", "math_03": "56", "math_04": "1368", "math_05": "400", "math_06": "30",
    "reason_01": "no", "reason_02": "5", "reason_03": "5", "reason_04": "2", "reason_05": "32",
    "know_01": "Paris", "know_02": "H2O", "know_03": "8", "zh_01": "北京", "zh_03": "太平洋", "zh_02": "9801",
    "code_01": "5", "code_02": "2", "code_03": "1024",
}


def test_shipped_sets_load() -> None:
    sets = {s.name: s for s in available_sets()}
    assert {"quick-20", "instructions-12", "long-context"} <= set(sets)
    quick = sets["quick-20"]
    assert {item.id: item.references[0] for item in quick.items} == QUICK_20
    assert {item.language for item in quick.items} == {"en", "zh"}
    assert {"math", "reasoning", "knowledge", "code"} <= {item.category for item in quick.items}
    assert all(item.constraints for item in sets["instructions-12"].items)


def test_reference_answers_are_found_in_plain_correct_answers() -> None:
    for item in load_prompt_set("quick-20").items:
        assert matches_any(f"The answer is {item.references[0]}.", item.references), item.id


def test_long_context_documents_are_generated_to_size_with_the_needle() -> None:
    items = {item.id: item for item in load_prompt_set("long-context").items}
    deep = items["needle_256k_deep"]
    text = deep.chat()[-1]["content"]
    assert deep.document is not None and deep.document.needle in text
    assert 200_000 < len(text.split()) < 262_144  # about 250K tokens of common words
    at = text.index(deep.document.needle) / len(text)
    assert 0.3 < at < 0.4  # depth 0.35
    assert text == deep.chat()[-1]["content"]  # the same document every time (seeded)
    assert deep.question.startswith("In which year") and "museum" not in deep.question[:5]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: s\nitems:\n  - {id: a1, category: math, difficulty: easy, language: en}\n",
         "broken.yaml: items[0] (a1): Value error, give either 'prompt' or 'messages'"),
        ("name: s\nitems:\n  - {id: a1, category: math, difficulty: simple, language: en, prompt: x}\n",
         "broken.yaml: items[0] (a1).difficulty: Input should be 'easy', 'medium' or 'hard'"),
        ("name: s\nitems:\n  - {id: a1, category: m, difficulty: easy, language: en, prompt: x, refrences: [1]}\n",
         "broken.yaml: items[0] (a1).refrences: Extra inputs are not permitted"),
        ("name: s\nitems:\n  - {id: a1, category: m, difficulty: easy, language: en, prompt: x,"
         " constraints: [{type: max_words, value: -3}]}\n",
         "broken.yaml: items[0] (a1).constraints[0].value: Input should be greater than 0"),
        ("name: s\nitems:\n  - {id: a1, category: m, difficulty: easy, language: en, prompt: x}\n"
         "  - {id: a1, category: m, difficulty: easy, language: en, prompt: y}\n",
         "broken.yaml: (top level): Value error, item id 'a1' is used twice"),
        ("name: s\nitems: [\n", "broken.yaml: not valid YAML"),
        ("- just\n- a list\n", "broken.yaml: the top level must be a mapping"),
    ],
)
def test_broken_sets_name_the_file_item_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PromptSetError) as raised:
        load_prompt_set(write(tmp_path, text))
    assert message in str(raised.value)


def test_an_unknown_set_lists_the_known_ones() -> None:
    with pytest.raises(PromptSetError, match="no such prompt set .*quick-20"):
        load_prompt_set("quick-21")


@pytest.mark.parametrize(("name", "index"), [
    ("/etc/hostname", 0), ("../prompts/quick-20", 0), ("quick-20.yaml", 0), ("prompts/quick-20", 0),
    ("quick-20", -1), ("quick-20", 21), ("quick-20", True), ("quick-20", "3"), (None, 0), (["quick-20"], 0),
])
def test_set_steps_from_a_browser_accept_only_listed_names_and_real_positions(name: object, index: object) -> None:
    with pytest.raises(PromptSetError):
        listed_step(name, index)


def test_a_listed_set_and_its_end_are_valid_steps() -> None:
    prompt_set, index = listed_step("quick-20", 20)  # past the last item: "that was the last"
    assert (prompt_set.name, index, len(prompt_set.items)) == ("quick-20", 20, 20)
    with pytest.raises(PromptSetError, match="no prompt set '/etc/hostname'"):
        load_listed_set("/etc/hostname")
