"""A short, fixed training run that teaches a tiny demo checkpoint the quick-20 answers.

Each example is a quick-20 question formatted with the chat template exactly as the arena asks
it (prompt tokens from ``apply_chat_template(..., add_generation_prompt=True)``), followed by the
reference answer, a blank line and a sentence of plain text. The loss covers only what the model
is to write. Answers never end with ``<|im_end|>``: a demo answer keeps going (the text after
the answer) until ``max_tokens``, because the app's streaming, Stop and timing paths want long
answers to work on. The text has no digits, so what follows an answer never adds a number that
the automatic check could take for one.

Deterministic: one torch thread (results do not depend on the machine's core count), a fixed
seed, full-batch AdamW for a fixed number of steps, the examples in file order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from playground.core.locations import shipped_prompts_dir
from playground.evalsets.checks import matches_any
from playground.evalsets.prompt_sets import PromptItem, load_prompt_set

QUICK_20 = "quick-20"

# Said after each answer (in turn): plain text so that a trained model writes sentences, not
# gibberish, after its answer. No digits: see the module docstring.
TEXT = (
    "Human raters compare two language models on the same prompt.",
    "Both answers stream side by side and the rater says which is better.",
    "Every answer and score is stored in a leaderboard.",
    "The quick brown fox jumps over the lazy dog.",
)

SENTENCES = 2  # after each answer
ANSWER_WEIGHT = 4.0
LEARNING_RATE = 3e-3


def quick20_items() -> list[PromptItem]:
    """The shipped quick-20 items (never a set from $PLAYGROUND_PROMPTS: the demo is fixed)."""
    return list(load_prompt_set(shipped_prompts_dir() / f"{QUICK_20}.yaml").items)


def prompt_ids(tokenizer: Any, item: PromptItem) -> list[int]:
    text = tokenizer.apply_chat_template(item.chat(), tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def examples(tokenizer: Any, items: Sequence[PromptItem]) -> list[tuple[list[int], list[int], list[int]]]:
    """(prompt ids, answer ids, text ids) per item. Each is tokenized apart, as the model meets
    them: the prompt ends where generation starts, whatever a joint tokenization would merge."""
    out = []
    for index, item in enumerate(items):
        # The sentences in turn, each example starting one further: the model learns that text
        # follows text, so past what it was taught it goes on with sentences, not digits.
        start = index % len(TEXT)
        text = "\n\n" + " ".join((TEXT[start:] + TEXT[:start])[:SENTENCES])
        out.append((prompt_ids(tokenizer, item), encode(tokenizer, item.references[0]), encode(tokenizer, text)))
    return out


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@contextmanager
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(model: Any, tokenizer: Any, items: Sequence[PromptItem], steps: int, seed: int) -> float:
    """Train ``model`` in place on ``items`` for ``steps`` full-batch steps; returns the seconds."""
    import torch

    if steps <= 0:
        return 0.0
    started = time.perf_counter()
    rows = examples(tokenizer, items)
    length = max(len(p) + len(a) + len(t) for p, a, t in rows)
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    # Token i is predicted at position i - 1; the prompt is not learnt (weight 0), the answer
    # counts ANSWER_WEIGHT times a token of the text after it.
    weights = torch.zeros((len(rows), length))
    for row, (prompt, answer, text) in enumerate(rows):
        ids = prompt + answer + text
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        weights[row, len(prompt) : len(prompt) + len(answer)] = ANSWER_WEIGHT
        weights[row, len(prompt) + len(answer) : len(ids)] = 1.0
    targets, weights = input_ids[:, 1:], weights[:, 1:]
    with one_thread():
        torch.manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
        model.train()
        for _ in range(steps):
            logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1]
            losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
            loss = (losses * weights).sum() / weights.sum()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Quick20Score:
    right: int
    total: int
    answers: dict[str, str]  # item id -> the greedy answer


def greedy_answer(model: Any, tokenizer: Any, item: PromptItem, max_new_tokens: int = 16) -> str:
    import torch

    ids = torch.tensor([prompt_ids(tokenizer, item)])
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))


def quick20_score(model: Any, tokenizer: Any, max_new_tokens: int = 16) -> Quick20Score:
    """Greedy answers to the quick-20 items, checked by the project's automatic check."""
    with one_thread():
        answers = {item.id: greedy_answer(model, tokenizer, item, max_new_tokens) for item in quick20_items()}
    items = {item.id: item for item in quick20_items()}
    right = sum(bool(matches_any(answer, items[key].references)) for key, answer in answers.items())
    return Quick20Score(right=right, total=len(answers), answers=answers)
