"""The duel: one prompt, two models, streamed at the same time.

Each side has its own history, so either model sees only its own earlier answers. Both streams
start together and are merged into one sequence of :class:`SideEvent`. An error on one side ends
only that side. Closing the merged stream (Stop, or a cancelled task) cancels both sides promptly
and keeps what they had written so far.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.arena.context import ContextPlan, count_fitting, plan_context
from playground.arena.pairs import PairDraw, fixed_or_uniform
from playground.backends.base import Backend
from playground.backends.registry import BackendPool
from playground.core.config import GenerationDefaults, OpenAIModel, PlaygroundConfig, TransformersModel
from playground.core.events import ChatMessage, ErrorEvent, SamplingParams, SideEvent
from playground.core.generation import Generation, GenerationRecord
from playground.core.vocabulary import SIDES, Side, TruncationPolicy


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """What the rater may change in the settings panel; None keeps each model's default."""

    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str = ""

    def sampling_for(self, defaults: GenerationDefaults) -> SamplingParams:
        return SamplingParams(
            temperature=defaults.temperature if self.temperature is None else self.temperature,
            top_p=defaults.top_p,
            max_tokens=defaults.max_tokens if self.max_tokens is None else self.max_tokens,
            chat_template_kwargs=dict(defaults.chat_template_kwargs),
        )


@dataclass(slots=True)
class Contender:
    side: Side
    model: str
    backend: Backend
    defaults: GenerationDefaults
    history: list[ChatMessage] = field(default_factory=list)

    def messages_for(self, prompt: str, system_prompt: str, documents_text: str = "") -> list[ChatMessage]:
        """The side's messages for this turn. Documents go before the conversation's first user
        message, in every turn: the model reads them once at the start, as the rater attached
        them, and a server's prefix cache keeps them from one question to the next."""
        messages: list[ChatMessage] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.extend(ChatMessage(role=m["role"], content=m["content"]) for m in self.history)
        messages.append({"role": "user", "content": prompt})
        if documents_text:
            first = next(i for i, m in enumerate(messages) if m["role"] == "user")
            messages[first] = {"role": "user", "content": documents_text + "\n\n" + messages[first]["content"]}
        return messages


@dataclass(slots=True)
class Duel:
    contenders: dict[Side, Contender]
    blind: bool
    config: PlaygroundConfig | None = None  # where the seated models were configured
    # How the pair was chosen, stored with a new conversation (None: seated from a stored one).
    pair: PairDraw | None = None

    def config_of(self, side: Side) -> OpenAIModel | TransformersModel:
        """The configuration of the model seated on ``side``."""
        assert self.config is not None, "a duel built without its config"
        return self.config.model(self.contenders[side].model)

    @classmethod
    def from_config(
        cls, config: PlaygroundConfig, pool: BackendPool, rng: random.Random | None = None,
        pair: PairDraw | None = None,
    ) -> Duel:
        """Seat a pair of the arena's models: ``pair`` as drawn by the caller from its policy's
        probabilities (without it: the config's fixed pair, or one drawn uniformly from its
        models); in blind mode their sides are drawn at random."""
        rng = rng or random.Random()
        pair = pair or fixed_or_uniform(config).draw(rng)
        names = list(pair.models)
        if config.arena.pair_policy() == "fixed":
            names = [config.arena.model_a, config.arena.model_b]  # the config's own sides when named
        if config.arena.blind:
            rng.shuffle(names)
        contenders = {
            side: Contender(side, name, pool.get(name), config.model(name).defaults)
            for side, name in zip(SIDES, names, strict=True)
        }
        return cls(contenders=contenders, blind=config.arena.blind, config=config, pair=pair)

    @classmethod
    def seated(
        cls, config: PlaygroundConfig, pool: BackendPool, model_a: str, model_b: str, blind: bool
    ) -> Duel:
        """The same seats as a stored conversation (to resume it)."""
        contenders = {
            side: Contender(side, name, pool.get(name), config.model(name).defaults)
            for side, name in zip(SIDES, (model_a, model_b), strict=True)
        }
        return cls(contenders=contenders, blind=blind, config=config)

    def start_turn(
        self, prompt: str, settings: TurnSettings, documents_text: str = "",
        side_documents_text: Mapping[Side, str] | None = None,
    ) -> DuelTurn:
        return DuelTurn(self, prompt, settings, documents_text, side_documents_text)


class DuelTurn:
    """One prompt sent to both sides; iterate :meth:`stream` to receive the merged events."""

    def __init__(
        self, duel: Duel, prompt: str, settings: TurnSettings, documents_text: str = "",
        side_documents_text: Mapping[Side, str] | None = None,
    ) -> None:
        self.duel = duel
        self.prompt = prompt
        self.settings = settings
        self.documents_text = documents_text  # the attached documents, rendered, before any cut
        # A side's own documents instead (a needle sweep builds each side's haystack with its tokenizer).
        self.side_documents_text: dict[Side, str] = dict(side_documents_text or {})
        self.generations: dict[Side, Generation] = {
            side: Generation(side, c.model) for side, c in duel.contenders.items()
        }
        self.plans: dict[Side, ContextPlan] = {}  # each side's context budget, once prepared
        self.sent_at: float | None = None  # wall-clock time (epoch s) when both prompts were sent
        self._counting: dict[Side, asyncio.Task[None]] = {}  # counts of prompts sent before counting
        self._policies: dict[Side, TruncationPolicy] = {}

    def documents_for(self, side: Side) -> str:
        """The documents this side is sent, rendered, before any cut."""
        return self.side_documents_text.get(side, self.documents_text)

    def messages_for(self, side: Side, documents_text: str) -> list[ChatMessage]:
        return self.duel.contenders[side].messages_for(self.prompt, self.settings.system_prompt, documents_text)

    async def prepare(self, policies: Mapping[Side, TruncationPolicy]) -> dict[Side, ContextPlan]:
        """Count each side's prompt with its own tokenizer and fit it to its window (both sides
        at once: one may ask a server while the other tokenizes locally). A prompt that surely or
        likely fits is not waited for: see arena.context on provisional plans."""
        sides = list(self.duel.contenders)
        self._policies = dict(policies)
        plans = await asyncio.gather(*(
            plan_context(side, self.duel.contenders[side].backend, functools.partial(self.messages_for, side),
                         self.documents_for(side), self.settings.sampling_for(self.duel.contenders[side].defaults),
                         policies[side], count_later=True)
            for side in sides
        ))
        self.plans = dict(zip(sides, plans, strict=True))
        for side, plan in self.plans.items():
            if plan.provisional:
                # Sent now on an estimate; the real plan, made meanwhile, decides before anything shows.
                self._counting[side] = asyncio.create_task(self._replan(side), name=f"plan-{side}")
            elif plan.window is not None and plan.full_tokens is None and plan.uncounted is None:
                # It surely fits: sent now, counted alongside (the pane shows the count when known).
                self._counting[side] = asyncio.create_task(self._count(side, plan), name=f"count-{side}")
        return self.plans

    async def _count(self, side: Side, plan: ContextPlan) -> None:
        contender = self.duel.contenders[side]
        self.plans[side] = await count_fitting(plan, contender.backend, self.messages_for(side, plan.documents_text),
                                               self.settings.sampling_for(contender.defaults))

    async def _replan(self, side: Side) -> None:
        contender = self.duel.contenders[side]
        self.plans[side] = await plan_context(
            side, contender.backend, functools.partial(self.messages_for, side), self.documents_for(side),
            self.settings.sampling_for(contender.defaults), self._policies[side])

    async def counted(self) -> dict[Side, ContextPlan]:
        """The plans with the counts made while streaming (before a turn is stored)."""
        if self._counting:
            await asyncio.gather(*self._counting.values(), return_exceptions=True)
        return self.plans

    def records(self) -> dict[Side, GenerationRecord]:
        return {side: g.record() for side, g in self.generations.items()}

    def sampling_sent(self, side: Side) -> dict[str, Any]:
        """The sampling parameters this side's model was sent, as stored with its answer."""
        params = self.settings.sampling_for(self.duel.contenders[side].defaults)
        return {"temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
                "chat_template_kwargs": params.chat_template_kwargs}

    async def stream(self) -> AsyncIterator[SideEvent]:
        queue: asyncio.Queue[SideEvent | Side] = asyncio.Queue()
        self.sent_at = time.time()
        pumps = [
            asyncio.create_task(self._pump(side, queue), name=f"duel-side-{side}")
            for side in self.generations
        ]
        remaining = len(pumps)
        try:
            while remaining:
                item = await queue.get()
                if isinstance(item, str):  # a side's end marker
                    remaining -= 1
                    continue
                yield item
        finally:
            for task in pumps:
                task.cancel()
            # Wait for both sides to release their streams before the turn is over; shielded
            # so that a second cancellation cannot leave an HTTP stream open.
            await asyncio.shield(asyncio.gather(*pumps, return_exceptions=True))
            for generation in self.generations.values():
                generation.stop()
            self._remember()

    async def _pump(self, side: Side, queue: asyncio.Queue[SideEvent | Side]) -> None:
        contender = self.duel.contenders[side]
        generation = self.generations[side]
        generation.start()
        try:
            plan = self.plans.get(side)
            if plan is not None and plan.provisional:
                if await self._streamed(side, plan, queue, gate=self._counting[side]):
                    return
                plan = self.plans[side]  # it did not fit after all: again, with the real plan
            if plan is not None and plan.refused:
                # Nothing goes to this model; its pane says why while the other side answers.
                refusal = ErrorEvent(plan.refused)
                generation.feed(refusal)
                queue.put_nowait(SideEvent(side, refusal))
                return
            await self._streamed(side, plan, queue)
        except Exception as exc:  # a bug in one backend must not end the other side
            event = ErrorEvent(f"{contender.model}: {type(exc).__name__}: {exc}")
            generation.feed(event)
            queue.put_nowait(SideEvent(side, event))
        finally:
            queue.put_nowait(side)

    async def _streamed(
        self, side: Side, plan: ContextPlan | None, queue: asyncio.Queue[SideEvent | Side],
        gate: asyncio.Task[None] | None = None,
    ) -> bool:
        """Stream this side with ``plan``'s documents. With a ``gate`` (the real plan being made
        for a provisional one), nothing is passed on before it is done, and the stream is dropped
        unsent (False) when the real plan sends something else; otherwise True."""
        contender = self.duel.contenders[side]
        generation = self.generations[side]
        messages = self.messages_for(side, plan.documents_text if plan is not None else self.documents_for(side))
        events = contender.backend.stream(messages, self.settings.sampling_for(contender.defaults))
        try:
            async for event in events:
                if gate is not None:
                    if not await self._passed(side, plan, gate):
                        return False
                    gate = None
                generation.feed(event)
                queue.put_nowait(SideEvent(side, event))
            if gate is not None and not await self._passed(side, plan, gate):
                return False
            if not generation.finished:
                event = ErrorEvent(f"{contender.model}: the stream ended without a result")
                generation.feed(event)
                queue.put_nowait(SideEvent(side, event))
        finally:
            await events.aclose()
        return True

    async def _passed(self, side: Side, sent: ContextPlan | None, gate: asyncio.Task[None]) -> bool:
        """Whether the real plan, once made, sends what the provisional one sent."""
        await asyncio.shield(gate)  # a Stop meanwhile leaves the count to finish for the record
        real = self.plans[side]
        return sent is not None and not real.refused and real.documents_text == sent.documents_text

    def _remember(self) -> None:
        """Each side keeps its own history: the prompt and its own (possibly partial) answer."""
        for side, contender in self.duel.contenders.items():
            contender.history.append({"role": "user", "content": self.prompt})
            contender.history.append(
                {"role": "assistant", "content": self.generations[side].text}
            )
