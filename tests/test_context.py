"""Each side's context budget on fake backends (words are tokens, to the token) and a real
database: counting, the four policies, refusals, differing sides, what is stored, follow-ups."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlmodel import select

from playground.arena.context import plan_context
from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import TurnInput, TurnRun
from playground.backends.fake import MESSAGE_OVERHEAD, FakeBackend, words_script
from playground.core.events import ChatMessage, SamplingParams
from playground.store.database import Database
from playground.store.documents import DocumentText, documents_of_conversation
from playground.store.tables import Document, Response, TurnDocument

from .test_lifecycle import chat_seat, fake_config, fake_pool, responses_of

WORDS = [f"w{i}" for i in range(1000)]  # a document of 1,000 tokens, each word its own token
DOCUMENT = " ".join(WORDS)


def document(text: str = DOCUMENT, name: str = "book.txt") -> DocumentText:
    data = text.encode()
    return DocumentText(hashlib.sha256(data).hexdigest(), name, "text", text, len(data), None)


def build(documents_text: str) -> list[ChatMessage]:
    content = (documents_text + "\n\n" if documents_text else "") + "What is the last word?"
    return [{"role": "user", "content": content}]


PARAMS = SamplingParams(max_tokens=100)
QUESTION = MESSAGE_OVERHEAD + 5  # the question's tokens with its message


async def test_a_prompt_that_fits_is_sent_whole_and_counted() -> None:
    plan = await plan_context("a", FakeBackend("m", window=2000), build, DOCUMENT, PARAMS, "refuse")
    assert (plan.full_tokens, plan.sent_tokens, plan.window) == (1000 + QUESTION, 1000 + QUESTION, 2000)
    assert plan.documents_text == DOCUMENT and not plan.cut and plan.note == "" and plan.refused is None


@pytest.mark.parametrize("policy", ["head", "tail", "middle"])
async def test_each_policy_cuts_the_documents_to_the_window_leaving_room_for_the_answer(policy: str) -> None:
    backend = FakeBackend("m", window=500)
    plan = await plan_context("b", backend, build, DOCUMENT, PARAMS, policy)  # type: ignore[arg-type]
    assert plan.full_tokens == 1000 + QUESTION and plan.refused is None and plan.cut
    assert plan.sent_tokens is not None and plan.sent_tokens + PARAMS.max_tokens <= 500
    assert plan.sent_tokens == await backend.count_prompt(build(plan.documents_text), PARAMS)
    kept = [w for w in plan.documents_text.split() if w in set(WORDS)]
    assert len(kept) == plan.kept_document_tokens and 300 < len(kept) < 400
    assert "tokens of the documents were cut here" in plan.documents_text
    if policy == "head":
        assert kept == WORDS[:len(kept)] and plan.documents_text.startswith("w0 w1 ")
    elif policy == "tail":
        assert kept == WORDS[-len(kept):] and plan.documents_text.rstrip().endswith("w999")
    else:
        first = len(kept) - len(kept) // 2
        assert kept == WORDS[:first] + WORDS[1000 - len(kept) // 2:]
    assert f"of 1,000 document tokens (policy {policy})" in plan.note


async def test_refuse_sends_nothing_and_says_why() -> None:
    plan = await plan_context("a", FakeBackend("m", window=500), build, DOCUMENT, PARAMS, "refuse")
    assert plan.refused is not None and plan.sent_tokens is None
    assert "1,009 tokens + 100 for the answer, of a 500-token window" in plan.refused and plan.note == plan.refused


async def test_a_question_too_long_without_any_document_is_refused_whatever_the_policy() -> None:
    long_question = [{"role": "user", "content": " ".join(WORDS[:600])}]
    plan = await plan_context("a", FakeBackend("m", window=500), lambda docs: long_question,  # type: ignore[arg-type, return-value]
                              "a b", PARAMS, "head")
    assert plan.refused is not None and "even without the documents" in plan.refused


async def test_a_side_that_cannot_count_sends_whole_and_says_so() -> None:
    plan = await plan_context("a", FakeBackend("m", counts=False), build, DOCUMENT, PARAMS, "head")
    assert plan.uncounted is not None and plan.documents_text == DOCUMENT and plan.full_tokens is None
    assert plan.note.startswith("Tokens not counted")


async def test_sides_receive_different_amounts_and_a_refused_side_stays_silent(db: Database) -> None:
    config = fake_config()
    left = FakeBackend("left", [words_script("the last word is w999")], window=600)
    right = FakeBackend("right", [words_script("never sent")], window=500)
    duel = Duel.from_config(config, fake_pool(config, left, right))
    run = TurnRun(db, duel, await chat_seat(db), TurnInput("What is the last word?", documents=(document(),)),
                  TurnSettings(max_tokens=100), policies={"a": "tail", "b": "refuse"})
    turn = await run.play()
    assert right.requests == [] and len(left.requests) == 1  # nothing went to the refused side
    sent = left.requests[0][0][0]["content"]
    # The fake tokenizer gives text back with single spaces; the end of the document survived.
    assert " ".join(sent.split()).endswith("w998 w999 </document> What is the last word?")
    async with db.sessions() as session:
        stored = {r.side: r for r in (await session.exec(select(Response).where(Response.turn_id == turn.id))).all()}
        links = (await session.exec(select(TurnDocument))).all()
    assert (stored["a"].status, stored["a"].context_policy, stored["a"].context_window) == ("done", "tail", 600)
    assert stored["a"].prompt_tokens_full is not None and stored["a"].prompt_tokens_full > 1000
    assert stored["a"].prompt_tokens_sent is not None and stored["a"].prompt_tokens_sent <= 500
    assert "Kept the last" in (stored["a"].context_note or "")
    assert (stored["b"].status, stored["b"].context_policy, stored["b"].prompt_tokens_sent) == ("error", "refuse", None)
    assert "Not sent" in (stored["b"].error or "") and stored["b"].error == stored["b"].context_note
    assert [(link.turn_id, link.document_id) for link in links] == [(turn.id, document().id)]


async def test_a_document_too_long_for_both_under_refuse_reaches_neither(db: Database) -> None:
    config = fake_config()
    left = FakeBackend("left", [words_script("x")], window=500)
    right = FakeBackend("right", [words_script("y")], window=500)
    duel = Duel.from_config(config, fake_pool(config, left, right))
    turn = await TurnRun(db, duel, await chat_seat(db), TurnInput("q?", documents=(document(),)),
                         TurnSettings(max_tokens=100), policies={"a": "refuse", "b": "refuse"}).play()
    assert left.requests == [] and right.requests == []
    async with db.sessions() as session:
        statuses = (await session.exec(select(Response.status).where(Response.turn_id == turn.id))).all()
    assert statuses == ["error", "error"]


async def test_a_follow_up_asks_about_the_same_document_stored_once(db: Database) -> None:
    config = fake_config()
    left = FakeBackend("left", [words_script("first"), words_script("second")], window=4000)
    right = FakeBackend("right", [words_script("one"), words_script("two")], window=4000)
    duel = Duel.from_config(config, fake_pool(config, left, right))
    seat = await chat_seat(db)
    attached = (document(),)
    await TurnRun(db, duel, seat, TurnInput("First question?", documents=attached)).play()
    await TurnRun(db, duel, seat, TurnInput("Second question?", documents=attached)).play()
    second = left.requests[1][0]
    # The document goes before the conversation's first question, the same way in every turn
    # (a server's prefix cache keeps it), and the follow-up comes after the first answer.
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0]["content"].startswith('<document name="book.txt">\nw0 w1')
    assert second[0]["content"].endswith("First question?") and second[2]["content"] == "Second question?"
    async with db.sessions() as session:
        documents = (await session.exec(select(Document))).all()
        links = (await session.exec(select(TurnDocument))).all()
    assert len(documents) == 1 and len(links) == 2  # stored once, referenced by both turns
    assert [d.id for d in await documents_of_conversation(db, seat.id)] == [document().id]


# --- sent before counted: provisional plans -------------------------------------------------------

def long_words(count: int, word: str) -> str:
    return " ".join(f"{word}{i}" for i in range(count))


class SlowCounting(FakeBackend):
    """Counts like a server's /tokenize, a round trip away: the stream starts before the count."""

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        await asyncio.sleep(0.05)
        return await super().count_prompt(messages, params)


async def test_once_a_backend_was_counted_a_long_prompt_that_fits_goes_out_before_its_count(db: Database) -> None:
    config = fake_config()
    # Long words: few tokens per byte. 1,000 such words are about 9 KB: far from surely fitting a
    # 2,000-token window by bytes, well inside it by tokens.
    left = SlowCounting("left", [words_script("first"), words_script("second")], window=2000)
    right = FakeBackend("right", [words_script("one"), words_script("two")], window=2000)
    pool = fake_pool(config, left, right)
    plans = []
    counted_when_shown: list[bool] = []  # for each side-a event: was its count known by then?
    for n in range(2):  # two conversations (a new duel each), the same backends
        run = TurnRun(db, Duel.from_config(config, pool), await chat_seat(db),
                      TurnInput("Which word?", documents=(document(long_words(1000, f"longword{n}x"), f"d{n}.txt"),)),
                      TurnSettings(max_tokens=100))
        await run.play(
            on_prepared=lambda run=run: plans.append(dict(run.turn.plans)),
            on_event=lambda e, run=run: counted_when_shown.append(run.turn.plans["a"].full_tokens is not None)
            if e.side == "a" else None)
        responses = await responses_of(db, run.stored.id)  # type: ignore[union-attr]
        # Counted all the same, before the turn was stored: the record has the count.
        assert responses["a"].prompt_tokens_sent == await left.count_prompt(left.requests[n][0], PARAMS)
        assert responses["a"].status == "done" and responses["a"].text == ["first", "second"][n]
    # The first was counted before it was sent (nothing learnt yet); the second was not waited for.
    assert not plans[0]["a"].provisional and plans[0]["a"].full_tokens is not None
    assert plans[1]["a"].provisional and plans[1]["a"].full_tokens is None
    assert counted_when_shown and all(counted_when_shown)  # nothing was shown before its count


async def test_a_provisional_prompt_that_does_not_fit_after_all_is_dropped_and_sent_again_cut(db: Database) -> None:
    config = fake_config()
    left = SlowCounting("left", [words_script("learnt"), words_script("DROPPED ANSWER"), words_script("cut answer")],
                        window=2000)
    right = FakeBackend("right", [words_script("one")], window=100_000)
    pool = fake_pool(config, left, right)
    # Learnt on long words (about 0.1 token per byte) ...
    sparse = TurnInput("q?", documents=(document(long_words(1000, "longwordxx")),))
    await TurnRun(db, Duel.from_config(config, pool), await chat_seat(db), sparse,
                  TurnSettings(max_tokens=100), policies={"a": "middle", "b": "middle"}).play()
    # ... then a document of one-letter words: 3,000 tokens in about 6 KB, which the estimate
    # (6 KB at 0.1 token per byte) takes for a fit.
    shown: list[str] = []
    run = TurnRun(db, Duel.from_config(config, pool), await chat_seat(db),
                  TurnInput("q?", documents=(document(" ".join("x" * 3000)),)),
                  TurnSettings(max_tokens=100), policies={"a": "middle", "b": "middle"})
    await run.play(on_event=lambda e: shown.append(getattr(e.event, "text", "")) if e.side == "a" else None)
    assert len(left.requests) == 3  # the provisional request, dropped, then the cut one
    assert len(left.requests[1][0][0]["content"].split()) > 3000
    assert "were cut here" in left.requests[2][0][0]["content"]
    assert "DROPPED" not in "".join(shown) and "".join(shown) == "cut answer"
    plan = run.turn.plans["a"]
    assert plan.cut and not plan.provisional and plan.sent_tokens is not None and plan.sent_tokens + 100 <= 2000
    responses = await responses_of(db, run.stored.id)  # type: ignore[union-attr]
    assert responses["a"].text == "cut answer" and "the middle dropped" in (responses["a"].context_note or "")


async def test_a_provisional_prompt_refused_after_all_sends_nothing_more_and_says_why(db: Database) -> None:
    config = fake_config()
    left = SlowCounting("left", [words_script("learnt"), words_script("DROPPED")], window=2000)
    right = FakeBackend("right", [words_script("one")], window=100_000)
    pool = fake_pool(config, left, right)
    sparse = TurnInput("q?", documents=(document(long_words(1000, "longwordxx")),))
    await TurnRun(db, Duel.from_config(config, pool), await chat_seat(db), sparse,
                  TurnSettings(max_tokens=100), policies={"a": "refuse", "b": "refuse"}).play()
    run = TurnRun(db, Duel.from_config(config, pool), await chat_seat(db),
                  TurnInput("q?", documents=(document(" ".join("x" * 3000)),)),
                  TurnSettings(max_tokens=100), policies={"a": "refuse", "b": "refuse"})
    await run.play()
    assert len(left.requests) == 2  # the provisional request only
    responses = await responses_of(db, run.stored.id)  # type: ignore[union-attr]
    assert responses["a"].status == "error" and (responses["a"].error or "").startswith("Not sent")
    assert responses["a"].text == "" and responses["b"].text == "one"
