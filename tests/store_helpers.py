"""Building stored turns for the store tests: the same code path the app uses (save_turn)."""

from __future__ import annotations

import uuid

from playground.core.generation import GenerationRecord
from playground.store.database import Database
from playground.store.raters import add_rater
from playground.store.records import ensure_conversation, save_turn
from playground.store.tables import Rater, Turn


def record(side: str, model: str, status: str = "done", text: str = "An answer.") -> GenerationRecord:
    return GenerationRecord(
        side=side, model=model, text=text, reasoning="", status=status,  # type: ignore[arg-type]
        finish_reason="stop" if status == "done" else status,  # type: ignore[arg-type]
        error="boom" if status == "error" else None, latency_s=1.0, ttft_s=0.1, tpot_s=0.01,
        itl_s=(0.01, 0.02), output_tokens=91, prompt_tokens=12, tokens_per_s=91.0,
    )


async def rater_with_turns(
    db: Database, name: str, turns: int = 1, *, blind: bool = True
) -> tuple[Rater, list[Turn]]:
    rater = await add_rater(db, name, "secret-pw")
    conversation_id = str(uuid.uuid4())
    await ensure_conversation(db, conversation_id, rater.id, blind=blind, model_a="m-left", model_b="m-right")  # type: ignore[arg-type]
    stored = []
    for i in range(turns):
        stored.append(
            await save_turn(
                db, conversation_id, prompt=f"prompt {i}", system_prompt="", settings={"temperature": 0.7},
                records={"a": record("a", "m-left"), "b": record("b", "m-right")},
                sampling={"a": {"temperature": 0.7}, "b": {"temperature": 0.7}}, message_id=None,
            )
        )
    return rater, stored


def submission(
    turn_id: int, winner: str = "model_a", a: tuple[int, int] = (4, 5), b: tuple[int, int] = (2, 3),
    comment: str = "",
) -> dict:
    return {
        "turn_id": turn_id,
        "a": {"accuracy": a[0], "fluency": a[1]},
        "b": {"accuracy": b[0], "fluency": b[1]},
        "winner": winner,
        "comment": comment,
    }
