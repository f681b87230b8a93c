"""Generated long documents with a needle, for long-context demos (up to 256K tokens).

The document is built from a seed, so a prompt set stores a few lines, not megabytes, and every
run sends the same text. Filler words are common English words, each about one token for the
usual BPE tokenizers, so ``tokens`` is a close estimate of the length a model sees (the exact
count depends on the tokenizer).
"""

from __future__ import annotations

import functools
import random

from pydantic import BaseModel, ConfigDict, Field

WORDS = (
    "the of and to in is was for on that with as by at from his her it an were are which this be "
    "or has had not but they their one all new more also after first two other who been its time "
    "would some can about when into only over these years people may most many then before state "
    "world between during city both under where found such three through year while being made "
    "well since part used later known four water river north south east west small large early "
    "village garden market bridge harbour valley winter summer morning evening light stone road"
).split()


class HaystackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(ge=100, le=262_144)  # about this many tokens of filler
    needle: str = Field(min_length=1)  # the sentence the question asks about
    depth: float = Field(0.5, ge=0.0, le=1.0)  # where the needle sits: 0 start, 1 end
    seed: int = 0

    def render(self) -> str:
        return render_haystack(self.tokens, self.needle, self.depth, self.seed)


@functools.lru_cache(maxsize=16)
def render_haystack(tokens: int, needle: str, depth: float, seed: int) -> str:
    rng = random.Random(seed)
    sentences: list[str] = []
    count = 0
    while count < tokens:
        length = rng.randint(8, 16)
        words = rng.choices(WORDS, k=length)
        sentences.append(" ".join(words).capitalize() + ".")
        count += length + 1  # the full stop
    at = round(depth * len(sentences))
    sentences.insert(at, needle.strip())
    # Paragraphs of about ten sentences: closer to a real document than one endless line.
    paragraphs = [" ".join(sentences[i:i + 10]) for i in range(0, len(sentences), 10)]
    return "\n\n".join(paragraphs)
