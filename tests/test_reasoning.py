"""<think> blocks are split from the answer, whatever the chunk boundaries."""

from __future__ import annotations

import pytest

from playground.core.events import ReasoningDelta, TextDelta
from playground.core.reasoning import ThinkSplitter


def split(chunks: list[str], starts_in_reasoning: bool = False) -> tuple[str, str]:
    splitter = ThinkSplitter(starts_in_reasoning)
    events = [e for chunk in chunks for e in splitter.feed(chunk)] + splitter.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, text


WHOLE = "<think>\nLet me add 15 and 27.\n</think>\n\nThe answer is 42."


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_any_chunking_gives_the_same_split(size: int) -> None:
    chunks = [WHOLE[i : i + size] for i in range(0, len(WHOLE), size)]
    assert split(chunks) == ("Let me add 15 and 27.\n", "The answer is 42.")


def test_no_think_block_is_all_answer() -> None:
    assert split(["Paris is ", "the capital."]) == ("", "Paris is the capital.")


def test_a_lone_angle_bracket_is_not_held_forever() -> None:
    assert split(["a <", "b"]) == ("", "a <b")
    assert split(["x <thi"]) == ("", "x <thi")  # flushed at the end of the stream


def test_template_opened_reasoning() -> None:
    """Qwen3 *-Thinking-2507: the prompt opens <think>, the model only closes it."""
    assert split(["step one", "</thi", "nk>\n\n42"], starts_in_reasoning=True) == ("step one", "42")


def test_unclosed_think_stays_reasoning() -> None:
    assert split(["<think>still thinking when max_tokens hit"]) == (
        "still thinking when max_tokens hit",
        "",
    )
