"""The words the playground stores, counts and shows, each defined once.

The database's check constraints, the statistics, the exports and the rating panel's buttons are
all built from these tuples, so a word cannot be spelled two ways in two places.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

# The two panes: "a" is the left one, "b" the right one.
Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = get_args(Side)

# A vote, in FastChat's labels (its cleaned battle log uses exactly these strings).
Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
WINNERS: tuple[Winner, ...] = get_args(Winner)
A_WINS: Winner = "model_a"
B_WINS: Winner = "model_b"
TIES: tuple[Winner, ...] = ("tie", "tie (bothbad)")  # both count as half a win in the ratings
WINNER_LABELS: dict[Winner, str] = {
    "model_a": "A is better",
    "model_b": "B is better",
    "tie": "Tie",
    "tie (bothbad)": "Both bad",
}
WINNER_KEYS: dict[Winner, str] = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "bothbad"}  # ids

# One status vocabulary for an answer, live in its pane and stored: waiting and streaming while
# it runs, then one of the final three (a stopped answer keeps its partial text).
Status = Literal["waiting", "streaming", "done", "error", "stopped"]
FinalStatus = Literal["done", "error", "stopped"]
FINAL_STATUSES: tuple[FinalStatus, ...] = get_args(FinalStatus)

# A conversation is blind (sides drawn at random, names hidden until the rater's first vote) or
# named; a rater's own chat, or one prompt-set item of a batch run.
Mode = Literal["blind", "named"]
MODES: tuple[Mode, ...] = get_args(Mode)
Kind = Literal["chat", "batch", "needle"]  # needle: one cell of a needle-in-a-haystack sweep
KINDS: tuple[Kind, ...] = get_args(Kind)


# How a conversation's pair of models was chosen: the config's fixed pair, or drawn from the
# arena's models uniformly over pairs or adaptively (favouring pairs whose ratings are least
# settled); the probability of the drawn pair is stored with it.
PairPolicy = Literal["fixed", "uniform", "adaptive"]
PAIR_POLICIES: tuple[PairPolicy, ...] = get_args(PairPolicy)


# What a side does with a prompt longer than its model's context window: refuse to send it, or keep
# the start of the documents, their end, or both ends without the middle (as LongBench does).
TruncationPolicy = Literal["refuse", "head", "tail", "middle"]
TRUNCATION_POLICIES: tuple[TruncationPolicy, ...] = get_args(TruncationPolicy)


def sql_in(column: str, words: Iterable[str]) -> str:
    """``column IN ('x', 'y')`` for a check constraint (the words are ours, never user input)."""
    return f"{column} IN ({', '.join(repr(str(w)) for w in words)})"
