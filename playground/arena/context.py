"""Each side's context budget, worked out before anything is sent.

A side's whole prompt (system prompt, its history, the documents, the question) is counted with
its own model's tokenizer and held against its model's context window, leaving room for
``max_tokens`` of answer. When it does not fit, the side's truncation policy decides:

* ``refuse``: nothing is sent; the pane says why;
* ``head``: the start of the documents is kept; ``tail``: their end; ``middle``: both ends, the
  middle dropped (as LongBench does). Only the documents are cut, at token boundaries, never the
  question or the history, and a marker line says where and how much was cut.

The two sides may have different tokenizers, windows and policies, so each gets its own plan.
When a side cannot count (an OpenAI-compatible server without ``/tokenize`` and no tokenizer in
the config) its prompt is sent whole and its pane says the tokens were not counted.

Counting must not cost the first token its time: a server's ``/tokenize`` is a round trip, and the
app's path to the first token should be the backend's own. So a prompt is sent *before* it is
counted when it surely fits (see surely_fits: counted alongside, for the pane and the record) or,
once this backend has been counted on a long prompt, when it fits by the tokens per byte seen so
far with a margin (see likely_fits). Such a plan is *provisional*: the real plan is made alongside
the stream and nothing the model sends is shown before it is known; if the count says the prompt
does not fit after all, that request is dropped and the side starts again with the real plan
(cut or refused). The pane still shows "N tokens of W" before any answer text.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from playground.arena.document_tokens import SpannedDocument, cut_spanned, spanned
from playground.backends.base import Backend, TokenCountUnavailable
from playground.core.events import ChatMessage, SamplingParams
from playground.core.vocabulary import Side, TruncationPolicy

# Tokens kept free beyond max_tokens: a cut document re-tokenizes a little differently in context.
SAFETY_TOKENS = 16
MAX_FITTING_ROUNDS = 4
# A prompt whose bytes leave this much room fits whatever the tokenizer (see surely_fits).
TEMPLATE_TOKENS_PER_MESSAGE = 32
TEMPLATE_TOKENS = 256
# likely_fits: a backend's density is learnt from prompts at least this long (the chat template's
# own tokens would skew a short one), and the estimate gets this margin on top.
LEARN_MIN_BYTES = 2_048
DENSITY_MARGIN = 1.10

# The most tokens per UTF-8 byte each backend has been counted at (long prompts only), by id():
# backends need not be hashable; an entry goes with its backend (weakref.finalize).
_densities: dict[int, float] = {}


@dataclass(frozen=True)
class ContextPlan:
    side: Side
    policy: TruncationPolicy
    window: int | None  # the model's context window (None: unknown)
    window_source: str | None  # "server" (read live) or "config"
    full_tokens: int | None  # the whole prompt with the whole documents (None: not counted)
    sent_tokens: int | None  # the prompt as sent, after any cut
    documents_text: str  # the documents as this side sends them (possibly cut)
    document_tokens: int | None = None  # tokens of the whole documents
    kept_document_tokens: int | None = None  # of those, how many were sent
    refused: str | None = None  # why nothing is sent to this side
    uncounted: str | None = None  # why the tokens could not be counted
    # Sent before counting on an estimate (likely_fits): the real plan is made while it streams.
    provisional: bool = False

    @property
    def cut(self) -> bool:
        return self.kept_document_tokens is not None and self.kept_document_tokens != self.document_tokens

    @property
    def note(self) -> str:
        """What the pane says about what its model received."""
        if self.refused:
            return self.refused
        if self.uncounted:
            return f"Tokens not counted ({self.uncounted}); the prompt was sent whole."
        if self.cut and self.document_tokens is not None and self.kept_document_tokens is not None:
            kept, whole = f"{self.kept_document_tokens:,}", f"{self.document_tokens:,}"
            where = {"head": f"the first {kept}", "tail": f"the last {kept}",
                     "middle": f"{kept} (the start and the end; the middle dropped)"}.get(self.policy, kept)
            return f"Kept {where} of {whole} document tokens (policy {self.policy})."
        return ""


def surely_fits(messages: list[ChatMessage], max_tokens: int, window: int) -> bool:
    """True when the prompt cannot overflow the window whatever the tokenizer: byte-level BPE and
    SentencePiece with byte fallback never make more tokens than the text has UTF-8 bytes, and
    the chat template adds a bounded number per message. Such a prompt is sent at once and
    counted alongside (for the pane and the record), so counting costs a short turn nothing."""
    text_bytes = _prompt_bytes(messages)
    template = TEMPLATE_TOKENS + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)
    return text_bytes + template + max_tokens <= window


def utf8_size(text: str) -> int:
    # An ASCII string's size is its length (isascii() reads a flag): no copy of a long document.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _prompt_bytes(messages: list[ChatMessage]) -> int:
    return sum(utf8_size(m["content"]) for m in messages)


def learn_density(backend: Backend, messages: list[ChatMessage], tokens: int) -> None:
    """Remember how densely this backend's tokenizer counted a long prompt (for likely_fits)."""
    _learn(backend, _prompt_bytes(messages), tokens)


def _learn(backend: Backend, size: int, tokens: int) -> None:
    if size < LEARN_MIN_BYTES:
        return
    key = id(backend)
    if key not in _densities:
        weakref.finalize(backend, _densities.pop, key, None)
    _densities[key] = max(_densities.get(key, 0.0), tokens / size)


def likely_fits(backend: Backend, messages: list[ChatMessage], max_tokens: int, window: int) -> bool:
    """True when, at the densest this backend has counted a long prompt, the prompt fits with a
    margin. False until the backend has been counted once on a long prompt."""
    density = _densities.get(id(backend))
    if density is None:
        return False
    estimate = _prompt_bytes(messages) * density * DENSITY_MARGIN + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)
    return estimate + max_tokens <= window


async def count_fitting(plan: ContextPlan, backend: Backend, messages: list[ChatMessage],
                        params: SamplingParams) -> ContextPlan:
    """The counts of a plan that was sent without waiting for them (it surely fit)."""
    try:
        tokens = await backend.count_prompt(messages, params)
    except TokenCountUnavailable as exc:
        return dataclasses.replace(plan, uncounted=str(exc))
    learn_density(backend, messages, tokens)
    return dataclasses.replace(plan, full_tokens=tokens, sent_tokens=tokens)


def cut_marker(dropped: int) -> str:
    return f"\n\n[... {dropped:,} tokens of the documents were cut here to fit this model's context window ...]\n\n"


async def plan_context(
    side: Side,
    backend: Backend,
    build: Callable[[str], list[ChatMessage]],
    documents_text: str,
    params: SamplingParams,
    policy: TruncationPolicy,
    count_later: bool = False,
) -> ContextPlan:
    """The plan of one side. ``build(documents_text)`` gives the side's messages with those
    documents in place; it is called with cut versions of the documents while fitting.

    ``count_later``: a prompt that surely fits (see surely_fits) gets a plan without counts at
    once, and the caller counts it with count_fitting while it streams; one that likely fits (see
    likely_fits) gets a *provisional* plan, and the caller makes the real one (this function
    without ``count_later``) while it streams and acts on it before showing anything."""
    try:
        window = await backend.context_window()
        if count_later:
            messages = build(documents_text)
            if surely_fits(messages, params.max_tokens, window.tokens):
                return ContextPlan(side, policy, window.tokens, window.source, None, None, documents_text)
            if likely_fits(backend, messages, params.max_tokens, window.tokens):
                return ContextPlan(side, policy, window.tokens, window.source, None, None, documents_text,
                                   provisional=True)
            del messages  # a long document's copy: not kept while counting
        document = await spanned(backend, documents_text)
        full = await _count_whole_prompt(backend, build, documents_text, document, params)
    except TokenCountUnavailable as exc:
        return ContextPlan(side, policy, None, None, None, None, documents_text, uncounted=str(exc))
    base = ContextPlan(side, policy, window.tokens, window.source, full, full, documents_text)
    room = window.tokens - params.max_tokens
    if full <= room:
        return base
    need = f"{full:,} tokens + {params.max_tokens:,} for the answer, of a {window.tokens:,}-token window"
    without = await backend.count_prompt(build(""), params) if documents_text else full
    if without + SAFETY_TOKENS > room:
        return _refuse(base, f"Not sent: even without the documents the prompt needs {need}"
                       " (shorten the question or lower max tokens).")
    if policy == "refuse":
        return _refuse(base, f"Not sent: the prompt needs {need} (policy refuse).")
    return await _fit(base, backend, build, params, room, document)


async def _count_whole_prompt(backend: Backend, build: Callable[[str], list[ChatMessage]], documents_text: str,
                              document: SpannedDocument | None, params: SamplingParams) -> int:
    """Tokens of the prompt with the whole documents: counted whole, or (a long document) as the
    prompt with the document's first and last spans plus the middle spans' counts (see
    arena.document_tokens: the same number, without holding a 256K-token answer)."""
    if document is None:
        messages = build(documents_text)
        full = await backend.count_prompt(messages, params)
        learn_density(backend, messages, full)
        return full
    ends = build(document.ends())
    full = await backend.count_prompt(ends, params) + await document.count(backend, document.middle())
    size = _prompt_bytes(ends) + sum(utf8_size(document.span(i)) for i in document.middle())
    _learn(backend, size, full)
    return full


def _refuse(plan: ContextPlan, reason: str) -> ContextPlan:
    return ContextPlan(plan.side, plan.policy, plan.window, plan.window_source, plan.full_tokens, None,
                       "", refused=reason)


async def _fit(
    plan: ContextPlan, backend: Backend, build: Callable[[str], list[ChatMessage]], params: SamplingParams, room: int,
    document: SpannedDocument | None = None,
) -> ContextPlan:
    """Cut the documents at token boundaries until the whole prompt fits in ``room``."""
    assert plan.full_tokens is not None
    tokens: list[int] = []
    if document is not None:
        total = await document.total(backend)
    else:
        tokens = await backend.encode(plan.documents_text)
        total = len(tokens)

    async def cut(keep: int) -> str:
        if document is not None:
            return await cut_spanned(document, backend, keep, plan.policy, cut_marker(total - keep))
        return await _cut(backend, tokens, keep, plan.policy)

    rest = plan.full_tokens - total  # the prompt around the documents (about)
    marker = len(await backend.encode(cut_marker(total)))
    keep = max(room - rest - marker - SAFETY_TOKENS, 0)
    sent, text = plan.full_tokens, plan.documents_text
    for _ in range(MAX_FITTING_ROUNDS):
        text = await cut(keep)
        sent = await backend.count_prompt(build(text), params)
        if sent <= room or keep == 0:
            break
        keep = max(keep - (sent - room) - SAFETY_TOKENS, 0)  # tokenization in context differed: shrink
    if sent > room:
        return _refuse(plan, f"Not sent: the prompt does not fit even with the documents cut ({sent:,} tokens).")
    return ContextPlan(plan.side, plan.policy, plan.window, plan.window_source, plan.full_tokens, sent, text,
                       document_tokens=total, kept_document_tokens=keep)


async def _cut(backend: Backend, tokens: list[int], keep: int, policy: TruncationPolicy) -> str:
    dropped = len(tokens) - keep
    if policy == "head":
        return await backend.decode(tokens[:keep]) + cut_marker(dropped)
    if policy == "tail":
        return cut_marker(dropped) + await backend.decode(tokens[len(tokens) - keep:])
    first = keep - keep // 2
    return (await backend.decode(tokens[:first]) + cut_marker(dropped)
            + await backend.decode(tokens[len(tokens) - keep // 2:]))
