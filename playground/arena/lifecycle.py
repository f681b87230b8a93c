"""One turn's life, the same for a rater's chat, a prompt-set item in the app and a batch run:

    open the conversation -> stream both sides -> records -> automatic checks -> store

The caller decides only what it shows while the answers stream (``on_event``) and what happens
once streaming is over (``on_streamed``, e.g. the final redraw). The turn is stored even when it
is stopped or cancelled midway (the partial answers are kept), shielded so that a second
cancellation cannot lose it; :attr:`TurnRun.stored` then holds the stored turn.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from playground.arena import turn_log
from playground.arena.context import ContextPlan
from playground.arena.duel import Duel, DuelTurn, TurnSettings
from playground.core.events import ChatMessage, SideEvent
from playground.core.generation import GenerationRecord
from playground.core.vocabulary import Kind, Side, TruncationPolicy
from playground.evalsets.checks import check_answer, check_basis
from playground.evalsets.documents import render_documents
from playground.evalsets.prompt_sets import PromptItem
from playground.store.database import Database
from playground.store.documents import DocumentText, save_document
from playground.store.records import StoredCheck, StoredContext, ensure_conversation, save_turn
from playground.store.tables import Turn

COUNT_WAIT_S = 10
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class TurnInput:
    """What both models are asked in one turn.

    ``history`` None: each side continues its own conversation (a rater's chat). A prompt-set
    item brings its own earlier messages instead, the same for both sides (and stored with the
    turn's settings, so a stored turn says everything the models saw)."""

    prompt: str
    system_prompt: str = ""
    history: tuple[ChatMessage, ...] | None = None
    prompt_set: str | None = None
    item: PromptItem | None = None
    # Documents the rater attached (or attached earlier in this conversation): put before the
    # conversation's first question, each side's cut to its own window by its policy.
    documents: tuple[DocumentText, ...] = ()
    # A side listed here is sent its own documents instead of ``documents`` (a needle sweep builds
    # each side's haystack to the exact length with that side's tokenizer). They are stored, and
    # the turn's settings say which side got which ("side_documents"); turn_documents links only
    # the documents sent to both sides.
    side_documents: Mapping[Side, tuple[DocumentText, ...]] = field(default_factory=dict)

    @classmethod
    def from_item(cls, prompt_set: str, item: PromptItem) -> TurnInput:
        messages = item.chat(with_document=False)
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        rest = messages[1:] if system else messages
        history = tuple(ChatMessage(role=cast(Role, m["role"]), content=m["content"]) for m in rest[:-1])
        documents = (generated_document(item),) if item.document is not None else ()
        return cls(prompt=rest[-1]["content"], system_prompt=system, history=history,
                   prompt_set=prompt_set, item=item, documents=documents)


def generated_document(item: PromptItem) -> DocumentText:
    """A prompt-set item's generated haystack as a document (stored once, like an upload)."""
    assert item.document is not None
    spec = item.document
    text = spec.render()
    data = text.encode("utf-8")
    name = f"generated haystack ({spec.tokens:,} tokens, seed {spec.seed})"
    return DocumentText(hashlib.sha256(data).hexdigest(), name, "generated", text, len(data), None)


@dataclass(frozen=True)
class ConversationSeat:
    """The stored conversation a turn belongs to, and who owns it."""

    id: str
    owner: int  # rater id (the batch system account for batch items)
    kind: Kind = "chat"


@dataclass
class TurnRun:
    db: Database
    duel: Duel
    conversation: ConversationSeat
    request: TurnInput
    settings: TurnSettings = field(default_factory=TurnSettings)
    message_id: str | None = None  # the chat message that shows the panes (app only)
    # Each side's truncation policy (the settings panel's); None: each model's from the config.
    policies: Mapping[Side, TruncationPolicy] | None = None
    turn: DuelTurn = field(init=False)
    stored: Turn | None = field(init=False, default=None)
    _opening: asyncio.Future[Any] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        settings = TurnSettings(self.settings.temperature, self.settings.max_tokens, self.request.system_prompt)
        if self.request.history is not None:
            for contender in self.duel.contenders.values():
                contender.history = [ChatMessage(role=m["role"], content=m["content"]) for m in self.request.history]
        documents = render_documents(self.request.documents) if self.request.documents else ""
        own = {side: render_documents(docs) for side, docs in self.request.side_documents.items()}
        self.turn = self.duel.start_turn(self.request.prompt, settings, documents, own)

    async def open(self) -> None:
        """Create the conversation row on its first turn (the seats as they are now). play()
        writes it when the answers are in, just before the turn: no database work comes between
        a prompt and its first tokens (on a small machine it would take CPU from a model's
        prefill). Safe to call again (and concurrently)."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(ensure_conversation(
                self.db, self.conversation.id, self.conversation.owner, blind=self.duel.blind,
                model_a=self.duel.contenders["a"].model, model_b=self.duel.contenders["b"].model,
                kind=self.conversation.kind,
                pair_policy=self.duel.pair.policy if self.duel.pair else None,
                pair_probability=self.duel.pair.probability if self.duel.pair else None,
            ))
        await asyncio.shield(self._opening)

    async def prepare(self) -> dict[Side, ContextPlan]:
        """Each side's context budget: counted with its own tokenizer, fitted to its window."""
        if not self.turn.plans:
            contenders = self.duel.contenders
            policies = self.policies or {side: self.duel.config_of(side).truncation for side in contenders}
            await self.turn.prepare(policies)
        return self.turn.plans

    async def play(
        self,
        on_event: Callable[[SideEvent], None] | None = None,
        on_streamed: Callable[[], Awaitable[None]] | None = None,
        on_prepared: Callable[[], None] | None = None,
    ) -> Turn:
        """Count and fit both prompts, stream both sides to the end (or to Stop), then store the
        turn. ``on_prepared`` hears when the budgets are known, before anything is generated."""
        try:
            await self.prepare()
            if on_prepared is not None:
                on_prepared()
            async for event in self.turn.stream():
                if on_event is not None:
                    on_event(event)
        finally:
            # Also after Stop (a cancelled task): the answers end as "stopped" with their text.
            for generation in self.turn.generations.values():
                generation.stop()  # stopped before it started (while counting): nothing was sent
            try:  # the counts of prompts sent before counting (done long ago, but never wait long)
                await asyncio.wait_for(asyncio.shield(self.turn.counted()), COUNT_WAIT_S)
            except (TimeoutError, asyncio.CancelledError):
                pass
            if on_streamed is not None:
                await on_streamed()
            records = self.turn.records()
            turn_log.log_turn(self.conversation.id, records, self.turn.plans)
            self.stored = await asyncio.shield(self._opened_and_stored(records))
        return self.stored

    async def _opened_and_stored(self, records: dict[Side, GenerationRecord]) -> Turn:
        await self.open()  # the conversation row first (once), then the turn
        return await self._store(records)

    async def _store(self, records: dict[Side, GenerationRecord]) -> Turn:
        request, item = self.request, self.request.item
        own = [document for side in sorted(request.side_documents) for document in request.side_documents[side]]
        for document in (*request.documents, *own):
            await save_document(self.db, document)  # once: a document already there is left as is
        stored_settings: dict[str, Any] = {"temperature": self.settings.temperature,
                                           "max_tokens": self.settings.max_tokens}
        if request.history:
            stored_settings["history"] = [dict(m) for m in request.history]
        if request.side_documents:
            stored_settings["side_documents"] = {side: [document.id for document in documents]
                                                 for side, documents in sorted(request.side_documents.items())}
        checks = None
        if item is not None and request.prompt_set is not None:
            basis = check_basis(request.prompt_set, item)
            found = {side: check_answer(record.text, item) for side, record in records.items()
                     if record.status != "stopped"}  # a stopped answer is not the model's answer
            checks = {side: StoredCheck(c.verdict, c.reference_match, basis) for side, c in found.items()}
        return await save_turn(
            self.db, self.conversation.id, prompt=request.prompt, system_prompt=request.system_prompt,
            settings=stored_settings, records=records,
            sampling={side: self.turn.sampling_sent(side) for side in records},
            message_id=self.message_id, category=item.category if item else None,
            prompt_set=request.prompt_set, item_id=item.id if item else None, checks=checks,
            contexts={side: StoredContext(plan.policy, plan.window, plan.full_tokens, plan.sent_tokens, plan.note)
                      for side, plan in self.turn.plans.items()},
            document_ids=[document.id for document in request.documents],
        )
