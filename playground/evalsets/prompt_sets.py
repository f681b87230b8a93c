"""Prompt sets: ``prompts/*.yaml``, validated with errors that name the file, the item and the field.

A set has a name, a description and items. An item has an id, a category, a difficulty, a
language, either a prompt or a message list, and optionally a system prompt, reference answers
(for the automatic checks), checkable constraints (instruction following), a generated
document (long context: the haystack is generated from a seed, never stored) and a gold pair:
two fixed answers and the expected verdict (``gold: {answer_a, answer_b, verdict}``), which
``playground gold SET`` stores for the rating queue to mix in, unmarked, to score the raters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from playground.core.config import read_yaml
from playground.core.locations import shipped_prompts_dir
from playground.core.vocabulary import WINNER_KEYS, Winner
from playground.evalsets.haystack import HaystackSpec

PROMPTS_ENV = "PLAYGROUND_PROMPTS"


class PromptSetError(ValueError):
    """A prompt set that cannot be used; the message names the file, the item and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in a key is an error, not a silent default


class Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


# Constraints an answer can be checked against without a human (instruction following).
class MaxWords(_Strict):
    type: Literal["max_words"]
    value: int = Field(gt=0)


class MinWords(_Strict):
    type: Literal["min_words"]
    value: int = Field(gt=0)


class MaxChars(_Strict):
    type: Literal["max_chars"]
    value: int = Field(gt=0)


class BulletCount(_Strict):
    type: Literal["bullet_count"]
    value: int = Field(gt=0)  # exactly this many lines starting with "-", "*" or "•"


class JsonFormat(_Strict):
    type: Literal["json"]
    keys: list[str] = Field(default_factory=list)  # the object must have these keys


class Language(_Strict):
    type: Literal["language"]
    value: Literal["en", "zh"]


class MustInclude(_Strict):
    type: Literal["must_include"]
    value: str = Field(min_length=1)


class MustNotInclude(_Strict):
    type: Literal["must_not_include"]
    value: str = Field(min_length=1)


class Lowercase(_Strict):
    type: Literal["lowercase"]


class EndsWith(_Strict):
    type: Literal["ends_with"]
    value: str = Field(min_length=1)


Constraint = Annotated[
    MaxWords | MinWords | MaxChars | BulletCount | JsonFormat | Language | MustInclude | MustNotInclude
    | Lowercase | EndsWith,
    Field(discriminator="type"),
]


GoldVerdict = Literal["a", "b", "tie", "bothbad"]


class GoldPair(_Strict):
    """Two fixed answers to the item and which is better ("a", "b", "tie" or "bothbad"): a gold
    item of the rating queue. The verdict is for the answers as written here (a on the left)."""

    answer_a: str = Field(min_length=1)
    answer_b: str = Field(min_length=1)
    verdict: GoldVerdict

    @property
    def winner(self) -> Winner:
        """The verdict in FastChat's labels, as votes are stored."""
        return next(winner for winner, key in WINNER_KEYS.items() if key == self.verdict)


class PromptItem(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    category: str = Field(min_length=1, max_length=100)
    difficulty: Literal["easy", "medium", "hard"]
    language: str = Field(min_length=2, max_length=10)  # BCP 47, e.g. en, zh
    prompt: str | None = Field(default=None, min_length=1)
    messages: list[Message] | None = None
    system_prompt: str = ""
    references: list[str] = Field(default_factory=list)  # any one of them counts as correct
    constraints: list[Constraint] = Field(default_factory=list)
    document: HaystackSpec | None = None  # generated text put before the prompt
    tags: list[str] = Field(default_factory=list)
    gold: GoldPair | None = None

    @model_validator(mode="after")
    def _one_prompt(self) -> PromptItem:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give either 'prompt' or 'messages', not both and not neither")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("'messages' must end with a user message")
        return self

    def chat(self, with_document: bool = True) -> list[dict[str, str]]:
        """The conversation sent to the models (the document, when there is one, first; the arena
        asks without it and sends it as a document, cut to each model's window)."""
        messages: list[dict[str, str]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        if self.messages is not None:
            messages += [m.model_dump() for m in self.messages]
        else:
            messages.append({"role": "user", "content": self.prompt or ""})
        if self.document is not None and with_document:
            last = messages[-1]
            last["content"] = self.document.render() + "\n\n" + last["content"]
        return messages

    @property
    def question(self) -> str:
        """The last user message as written (without the generated document): what a rater sees."""
        if self.messages is not None:
            return self.messages[-1].content
        return self.prompt or ""


class PromptSet(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    description: str = ""
    items: list[PromptItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PromptSet:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"item id {item.id!r} is used twice")
            seen.add(item.id)
        return self

    def item(self, item_id: str) -> PromptItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def _where(loc: tuple[Any, ...], data: Any) -> str:
    """``items[3] (math_04).prompt`` for a pydantic error location."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node) and isinstance(node[key], dict) and "id" in node[key]:
                label += f" ({node[key]['id']})"
            parts.append(label)
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            parts.append(("." if parts else "") + str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def parse_prompt_set(data: Any, source: Path | str) -> PromptSet:
    if not isinstance(data, dict):
        raise PromptSetError(f"{source}: the top level must be a mapping with 'name', 'description' and 'items'")
    try:
        return PromptSet.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            # Union members each report their own error; the discriminated "type" says enough.
            loc = tuple(k for k in err["loc"] if not (isinstance(k, str) and k.islower() and k in _CONSTRAINT_TYPES))
            lines.append(f"{source}: {_where(loc, data)}: {err['msg']}")
        raise PromptSetError("\n".join(dict.fromkeys(lines))) from None


# The "type" tags of the constraints: pydantic puts the tag in an error's location, which the
# message leaves out (the index already says which constraint).
_CONSTRAINT_TYPES = {
    get_args(kind.model_fields["type"].annotation)[0] for kind in get_args(get_args(Constraint)[0])
}


def prompts_dir() -> Path:
    return Path(os.environ[PROMPTS_ENV]) if os.environ.get(PROMPTS_ENV) else shipped_prompts_dir()


def load_prompt_set(name_or_path: str | Path) -> PromptSet:
    """A set by name (``quick-20`` -> prompts/quick-20.yaml) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = prompts_dir() / f"{name_or_path}.yaml"
    known = ", ".join(sorted(p.stem for p in prompts_dir().glob("*.yaml"))) or "none"
    data = read_yaml(path, PromptSetError, f"no such prompt set (sets in {prompts_dir()}: {known})")
    return parse_prompt_set(data, path)


def set_names() -> list[str]:
    """The names of the sets in the prompts folder."""
    return sorted(p.stem for p in prompts_dir().glob("*.yaml"))


def load_listed_set(name: str) -> PromptSet:
    """A set named by someone who must not reach the file system (a browser, a stored turn):
    only the names listed in the prompts folder are accepted, never a path."""
    names = set_names()
    if name not in names:
        raise PromptSetError(f"no prompt set {name!r} (sets: {', '.join(names) or 'none'})")
    return load_prompt_set(prompts_dir() / f"{name}.yaml")


def listed_step(name: object, index: object) -> tuple[PromptSet, int]:
    """A set and a position in it as a browser sent them (``/set NAME``, a "Next item" button):
    a listed set name and an index from 0 to the number of items (that number: past the last
    one). Anything else raises PromptSetError."""
    if not isinstance(name, str) or not isinstance(index, int) or isinstance(index, bool):
        raise PromptSetError("a prompt set step needs a set name and an item number")
    prompt_set = load_listed_set(name)
    if not 0 <= index <= len(prompt_set.items):
        raise PromptSetError(f"{name} has no item {index + 1} (it has {len(prompt_set.items)})")
    return prompt_set, index


def available_sets() -> list[PromptSet]:
    """Every valid set in the prompts folder (a broken file raises: it should be fixed, not hidden)."""
    return [load_prompt_set(path) for path in sorted(prompts_dir().glob("*.yaml"))]
