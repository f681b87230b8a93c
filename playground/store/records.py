"""Writing what happened: a conversation when its first turn starts, each finished turn with both
answers and their generation records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlmodel import col, func, select

from playground.core.events import FinishReason
from playground.core.generation import GenerationRecord
from playground.core.vocabulary import FINAL_STATUSES, FinalStatus, Side
from playground.store.database import Database
from playground.store.tables import Conversation, Response, Turn, TurnDocument


@dataclass(frozen=True)
class StoredCheck:
    """The automatic check of one answer as it is stored with it (see Response.check_*)."""

    verdict: str | None
    reference_match: bool | None
    basis: dict[str, Any]


@dataclass(frozen=True)
class StoredContext:
    """One side's context budget as stored with its answer (see Response.context_*)."""

    policy: str
    window: int | None
    full_tokens: int | None
    sent_tokens: int | None
    note: str


def names_hidden(conversation: Conversation) -> bool:
    """Are the model names of this conversation still hidden from its rater? (Blind until the
    rater's first vote reveals them; a named conversation never hides them.)"""
    return conversation.mode == "blind" and conversation.revealed_at is None


def shown_blind(turn: Turn, conversation: Conversation) -> bool:
    """Is this turn shown without the model names now? A turn stored named stays named; one
    stored blind is blind until its conversation's names are revealed."""
    return turn.blind and names_hidden(conversation)


async def ensure_conversation(
    db: Database, conversation_id: str, rater_id: int, *, blind: bool, model_a: str, model_b: str,
    kind: str = "chat", pair_policy: str | None = None, pair_probability: float | None = None,
) -> Conversation:
    """The conversation row for a Chainlit thread (or a batch item), created on its first turn,
    with how its pair was chosen and that (unordered) pair's probability."""
    async with db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            conversation = Conversation(
                id=conversation_id,
                rater_id=rater_id,
                mode="blind" if blind else "named",
                model_a=model_a,
                model_b=model_b,
                kind=kind,
                pair_policy=pair_policy,
                pair_probability=pair_probability,
            )
            session.add(conversation)
        elif conversation.rater_id != rater_id:
            raise PermissionError(f"conversation {conversation_id} belongs to another rater")
    return conversation


async def is_revealed(db: Database, conversation_id: str) -> bool:
    async with db.reading() as session:
        conversation = await session.get(Conversation, conversation_id)
        return conversation is not None and conversation.revealed_at is not None


async def save_turn(
    db: Database,
    conversation_id: str,
    *,
    prompt: str,
    system_prompt: str,
    settings: dict[str, Any],
    records: Mapping[Side, GenerationRecord],
    sampling: Mapping[Side, dict[str, Any]],
    message_id: str | None,
    category: str | None = None,
    prompt_set: str | None = None,
    item_id: str | None = None,
    checks: Mapping[Side, StoredCheck] | None = None,
    contexts: Mapping[Side, StoredContext] | None = None,
    document_ids: Sequence[str] = (),
) -> Turn:
    """Store a finished turn (done, error or stopped on each side) and both responses, with the
    automatic checks of a prompt-set item's answers."""
    async with db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise LookupError(f"no conversation {conversation_id}")
        position = (
            await session.exec(
                select(func.count()).select_from(Turn).where(col(Turn.conversation_id) == conversation_id)
            )
        ).one()
        turn = Turn(
            conversation_id=conversation_id,
            position=position,
            prompt=prompt,
            system_prompt=system_prompt,
            settings=settings,
            blind=names_hidden(conversation),
            message_id=message_id,
            category=category,
            prompt_set=prompt_set,
            item_id=item_id,
        )
        session.add(turn)
        await session.flush()
        assert turn.id is not None  # given by the flush
        for position_of_document, document_id in enumerate(document_ids):
            session.add(TurnDocument(turn_id=turn.id, document_id=document_id, position=position_of_document))
        for side, record in sorted(records.items()):
            check = (checks or {}).get(side)
            context = (contexts or {}).get(side)
            session.add(
                Response(
                    turn_id=turn.id,
                    side=side,
                    model=record.model,
                    text=record.text,
                    reasoning=record.reasoning,
                    # A turn is stored once both sides ended; a side still running by then
                    # (it cannot be, but a bug must not lose the answer) is stored as an error.
                    status=record.status if record.status in FINAL_STATUSES else "error",
                    finish_reason=record.finish_reason,
                    error=record.error,
                    sampling=sampling.get(side, {}),
                    latency_s=record.latency_s,
                    ttft_s=record.ttft_s,
                    tpot_s=record.tpot_s,
                    itl_s=list(record.itl_s),
                    output_tokens=record.output_tokens,
                    prompt_tokens=record.prompt_tokens,
                    tokens_per_s=record.tokens_per_s,
                    check_verdict=check.verdict if check else None,
                    reference_match=check.reference_match if check else None,
                    check_basis=check.basis if check else None,
                    context_policy=context.policy if context else None,
                    context_window=context.window if context else None,
                    prompt_tokens_full=context.full_tokens if context else None,
                    prompt_tokens_sent=context.sent_tokens if context else None,
                    context_note=(context.note or None) if context else None,
                    cached_tokens=record.cached_tokens,
                )
            )
    return turn


def record_of(response: Response) -> GenerationRecord:
    """A stored response as the generation record it was saved from (to redraw its pane)."""
    return GenerationRecord(
        side=cast(Side, response.side),
        model=response.model,
        text=response.text,
        reasoning=response.reasoning,
        status=cast(FinalStatus, response.status),
        finish_reason=cast(FinishReason | None, response.finish_reason),
        error=response.error,
        latency_s=response.latency_s,
        ttft_s=response.ttft_s,
        tpot_s=response.tpot_s,
        itl_s=tuple(response.itl_s or ()),
        output_tokens=response.output_tokens,
        prompt_tokens=response.prompt_tokens,
        tokens_per_s=response.tokens_per_s,
        cached_tokens=response.cached_tokens,
    )


async def load_conversation(
    db: Database, conversation_id: str
) -> tuple[Conversation, list[tuple[Turn, dict[str, Response]]]] | None:
    """A conversation with its turns in order, each with its responses by side."""
    async with db.reading() as session:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        turns = (
            await session.exec(
                select(Turn).where(col(Turn.conversation_id) == conversation_id).order_by(col(Turn.position))
            )
        ).all()
        responses = (
            await session.exec(
                select(Response).where(col(Response.turn_id).in_([t.id for t in turns]))
            )
        ).all()
    by_turn: dict[int, dict[str, Response]] = {}
    for response in responses:
        by_turn.setdefault(response.turn_id, {})[response.side] = response
    return conversation, [(turn, by_turn.get(turn.id, {}) if turn.id is not None else {}) for turn in turns]


async def stored_checks(db: Database, turn_id: int) -> dict[str, str] | None:
    """Per side, the automatic checks' verdict stored with the answer; None when the turn has
    none (a typed prompt, or an item with nothing to check)."""
    async with db.reading() as session:
        rows = (await session.exec(
            select(Response.side, Response.check_verdict).where(col(Response.turn_id) == turn_id)
        )).all()
    return verdicts_by_side(rows)


def verdicts_by_side(rows: Iterable[tuple[str, str | None]]) -> dict[str, str] | None:
    """(side, stored verdict) pairs as the rating panel shows them; None when no side has one."""
    return {side: verdict for side, verdict in rows if verdict} or None
