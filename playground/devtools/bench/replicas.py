"""``playground bench replicas``: raters through HAProxy onto two app replicas, without browsers.

The setup of ``tests/test_replicas.py`` (:class:`playground.devtools.replicas.ReplicaStack`: one
PostgreSQL server, two ``chainlit run`` replicas on the demo backends, HAProxy with cookie
affinity in front), driven by scripted raters that speak to the app as Chainlit's own page does:

* ``POST /login`` (form fields ``username``, ``password``) through the proxy: Chainlit sets its
  ``access_token`` cookie, HAProxy its ``SERVERID`` cookie naming the replica;
* a socket.io connection on ``/ws/socket.io`` (python-socketio's ``AsyncClient``, polling then
  websocket, as the page's socket.io client does) carrying both cookies and the page's ``auth``
  object (``clientType``, ``sessionId``, ``threadId``, ``userEnv``, ``chatProfile``), then the
  ``connection_successful`` event that makes the app start the chat;
* prompts as ``client_message`` events; a turn is over when its ``RatingPanel`` element arrives;
* ratings as the panel's ``callAction`` sends them: ``POST /project/action`` with the session id
  and the ``rate`` action. Its answer is the acknowledgement ("Saved."), after the commit.

Each rater plays ``turns`` duel turns, rating each, then works the rating queue (``/queue``) until
it has nothing left for them, all raters at once. Printed:

* ``ratings_acknowledged`` and ``ratings_stored`` (votes of these raters in the database, read
  afterwards): must be equal, and ``ratings_missing`` (acknowledged, not stored) 0;
* ``overlap_violations``: queue items with more raters (votes or live assignments) than
  ``queue_overlap``: must be 0;
* ``sticky_violations``: HTTP responses (login, actions, socket.io polling) to a rater from
  another replica than the one its first response came from: must be 0;
* ``p99_rating_ack_ms`` (and p50): from sending a rating to its acknowledgement, which for a queue
  item includes handing over the next one.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import numpy as np
import socketio  # type: ignore[import-untyped]  # python-socketio ships no types
import yaml
from sqlalchemy import func
from sqlmodel import col, select

from playground.core.config import PlaygroundConfig
from playground.core.replica import REPLICA_HEADER
from playground.devtools.replicas import RaterAccount, ReplicaStack, store_queue_items
from playground.store.database import Database
from playground.store.queue import HOLD
from playground.store.tables import Assignment, Rater, Rating, Vote, utcnow

QUEUE_DONE = "Nothing left for you in the queue."
PROMPTS = ("Name a colour.", "Count to five.", "Say hello in French.", "What is 2 + 2?")


class ScriptedRaterError(RuntimeError):
    pass


def replica_config(source: Path, target: Path, *, max_tokens: int, queue_overlap: int) -> Path:
    """A copy of ``source`` for the replicas: short answers, the queue's overlap, checkpoint paths
    made absolute (they are relative to the config's own folder)."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for model in data["models"]:
        if model.get("backend") == "transformers" and not Path(model["path"]).is_absolute():
            model["path"] = str((source.parent / model["path"]).resolve())
        model.setdefault("defaults", {})["max_tokens"] = max_tokens
    data["arena"]["queue_overlap"] = queue_overlap
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


class ScriptedRater:
    """One rater's page, scripted: its HTTP requests and its socket.io session, pinned to the
    replica HAProxy chose for its first request."""

    def __init__(self, account: RaterAccount, proxy_url: str, timeout: float = 120.0) -> None:
        self.account = account
        self.proxy_url = proxy_url
        self.timeout = timeout
        self.session_id = str(uuid.uuid4())
        self.http = httpx.AsyncClient(base_url=proxy_url, timeout=timeout)
        self.replica: str | None = None
        self.responses_checked = 0
        self.socketio_responses_checked = 0  # of those, socket.io's own (polling, handshake)
        self.sticky_violations = 0
        self.acknowledged: list[int] = []  # turn ids whose rating the app acknowledged
        self.ack_ms: list[float] = []
        self.refused: list[str] = []
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.seen_panels: set[int] = set()
        self._polling: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None

    def _check_replica(self, headers: Any, status: int) -> None:
        if status == 101:  # the websocket upgrade: the app's header is on HTTP responses only
            return
        replica = headers.get(REPLICA_HEADER)
        self.responses_checked += 1
        if self.replica is None:
            self.replica = replica
        elif replica != self.replica:
            self.sticky_violations += 1

    async def log_in(self) -> None:
        response = await self.http.post("/login", data={"username": self.account.name,
                                                         "password": self.account.password})
        self._check_replica(response.headers, response.status_code)
        if response.status_code != 200 or "access_token" not in self.http.cookies:
            raise ScriptedRaterError(f"{self.account.name}: login answered {response.status_code}")

    async def connect(self) -> None:
        async def on_request_end(_: Any, __: Any, params: aiohttp.TraceRequestEndParams) -> None:
            if params.response.status != 101:
                self.socketio_responses_checked += 1
            self._check_replica(params.response.headers, params.response.status)

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_request_end)
        self._polling = aiohttp.ClientSession(trace_configs=[trace])
        self.sio = socketio.AsyncClient(http_session=self._polling, reconnection=False)

        async def any_event(event: str, data: Any = None) -> None:
            await self.events.put((event, data))

        self.sio.on("*", any_event)
        cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        await self.sio.connect(
            self.proxy_url, socketio_path="/ws/socket.io", transports=["polling", "websocket"],
            headers={"Cookie": cookie, "Origin": self.proxy_url},
            auth={"clientType": "webapp", "sessionId": self.session_id, "threadId": "", "userEnv": "{}",
                  "chatProfile": ""},
            wait_timeout=30,
        )
        await self.sio.emit("connection_successful")
        await self.wait_for(lambda event, _: event == "chat_settings", "the chat to start")

    async def wait_for(self, matches: Any, what: str) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScriptedRaterError(f"{self.account.name}: waited {self.timeout:.0f} s for {what}")
            try:
                event, data = await asyncio.wait_for(self.events.get(), left)
            except TimeoutError:
                continue
            if matches(event, data):
                return data

    async def send(self, text: str) -> None:
        assert self.sio is not None
        message = {"id": str(uuid.uuid4()), "threadId": "", "name": self.account.name, "type": "user_message",
                   "output": text, "createdAt": datetime.now(UTC).isoformat()}
        await self.sio.emit("client_message", {"message": message, "fileReferences": []})

    def _new_panel(self, event: str, data: Any) -> bool:
        if event == "new_message" and isinstance(data, dict) and QUEUE_DONE in str(data.get("output", "")):
            return True
        if event != "element" or not isinstance(data, dict) or data.get("name") != "RatingPanel":
            return False
        turn_id = (data.get("props") or {}).get("turnId")
        return isinstance(turn_id, int) and turn_id not in self.seen_panels

    async def next_panel(self) -> int | None:
        """The turn id of the next rating panel the app shows, or None when the queue said it is done."""
        data = await self.wait_for(self._new_panel, "a rating panel")
        if data.get("name") != "RatingPanel":
            return None
        turn_id: int = data["props"]["turnId"]
        self.seen_panels.add(turn_id)
        return turn_id

    async def rate(self, turn_id: int, n: int) -> None:
        payload = {"turn_id": turn_id, "a": {"accuracy": 1 + n % 5, "fluency": 5 - n % 5},
                   "b": {"accuracy": 3, "fluency": 4}, "winner": ("model_a", "model_b", "tie")[n % 3], "comment": ""}
        action = {"name": "rate", "payload": payload, "id": str(uuid.uuid4()), "label": ""}
        start = time.perf_counter()
        response = await self.http.post("/project/action", json={"sessionId": self.session_id, "action": action})
        elapsed_ms = (time.perf_counter() - start) * 1000
        self._check_replica(response.headers, response.status_code)
        answer = response.json().get("response") if response.status_code == 200 else None
        if isinstance(answer, dict) and answer.get("ok"):
            self.acknowledged.append(turn_id)
            self.ack_ms.append(elapsed_ms)
        else:
            self.refused.append(f"turn {turn_id}: HTTP {response.status_code} {str(answer or response.text)[:200]}")

    async def play(self, turns: int) -> None:
        """``turns`` duel turns, each rated, then the rating queue until it is empty for this rater."""
        for n in range(turns):
            await self.send(f"{PROMPTS[n % len(PROMPTS)]} ({self.account.name}, turn {n})")
            turn_id = await self.next_panel()
            if turn_id is None:
                raise ScriptedRaterError(f"{self.account.name}: no rating panel for turn {n}")
            await self.rate(turn_id, n)
        await self.send("/queue")
        n = turns
        while (turn_id := await self.next_panel()) is not None:
            await self.rate(turn_id, n)
            n += 1

    async def close(self) -> None:
        if self.sio is not None and self.sio.connected:
            await self.sio.disconnect()
        if self._polling is not None:
            await self._polling.close()
        await self.http.aclose()


async def _stored(url: str, raters: list[str], overlap: int) -> SimpleNamespace:
    db = Database(url)
    try:
        async with db.sessions() as session:
            ids = dict((await session.exec(select(Rater.name, Rater.id).where(col(Rater.name).in_(raters)))).all())
            votes = (await session.exec(select(Vote.turn_id, Vote.rater_id)
                                        .where(col(Vote.rater_id).in_(list(ids.values()))))).all()
            ratings = (await session.exec(
                select(Rating.response_id, Rating.rater_id, func.count(col(Rating.id)))
                .where(col(Rating.rater_id).in_(list(ids.values())))
                .group_by(col(Rating.response_id), col(Rating.rater_id))
            )).all()
            live = utcnow() - HOLD
            assignments = (await session.exec(select(Assignment.turn_id, Assignment.rater_id, Assignment.assigned_at)))
            holders: dict[int, set[int]] = {}
            for turn_id, rater_id, assigned_at in assignments.all():
                if assigned_at > live:
                    holders.setdefault(turn_id, set()).add(rater_id)
    finally:
        await db.dispose()
    # Who holds each turn as the queue counts it: voted on it, or handed it within HOLD.
    holding: dict[int, set[int]] = holders
    for turn_id, rater_id in votes:
        holding.setdefault(turn_id, set()).add(rater_id)
    over = sum(1 for who in holding.values() if len(who) > overlap)
    return SimpleNamespace(ids=ids, votes=Counter(votes), rating_rows_over_one=sum(1 for *_, n in ratings if n > 1),
                           overlap_violations=over)


async def bench_replicas(
    config: PlaygroundConfig,
    raters: int = 4,
    turns: int = 2,
    queue_items: int = 8,
    queue_overlap: int = 2,
    max_tokens: int = 32,
) -> dict[str, Any]:
    """Start the stack on ``config``'s models (the demo backends), play the scripted raters at
    once, read the database back, stop the stack."""
    if config.source is None:
        raise ValueError("the replicas load the config from its file: give a config read from one")
    accounts = [RaterAccount(f"bench-{n:02d}", f"bench-password-{n:02d}") for n in range(raters)]
    with tempfile.TemporaryDirectory(prefix="playground-bench-replicas-") as tmp:
        replicas = replica_config(Path(config.source), Path(tmp) / "replicas.yaml", max_tokens=max_tokens,
                                  queue_overlap=queue_overlap)
        stack = ReplicaStack(replicas, accounts, work_dir=Path(tmp) / "stack")
        return await _run(stack, config, accounts, turns, queue_items, queue_overlap)


async def _run(stack: ReplicaStack, config: PlaygroundConfig, accounts: list[RaterAccount], turns: int,
               queue_items: int, queue_overlap: int) -> dict[str, Any]:
    raters = len(accounts)
    started = time.perf_counter()
    await asyncio.to_thread(stack.start)
    try:
        setup_s = time.perf_counter() - started
        await store_queue_items(stack.database_url, config.arena.model_a, config.arena.model_b, queue_items)
        players = [ScriptedRater(account, stack.proxy_url) for account in accounts]
        began = time.perf_counter()
        try:
            # Logged in one after another, so that leastconn sees each session's connections
            # and spreads them; then everything else at once.
            for player in players:
                await player.log_in()
                await player.connect()
            await asyncio.gather(*(player.play(turns) for player in players))
        except Exception as exc:
            raise ScriptedRaterError(f"{exc}\n{stack.logs()}") from exc
        finally:
            for player in players:
                await player.close()
        played_s = time.perf_counter() - began
        stored = await _stored(stack.database_url, [a.name for a in accounts], queue_overlap)
    finally:
        await asyncio.to_thread(stack.stop)
    acknowledged = Counter((turn_id, stored.ids[p.account.name]) for p in players for turn_id in p.acknowledged)
    ack_ms = [ms for p in players for ms in p.ack_ms]
    return {
        "replicas": sorted(stack.replicas),
        "raters": raters,
        "raters_per_replica": dict(sorted(Counter(p.replica or "?" for p in players).items())),
        "turns_per_rater": turns,
        "queue_items": queue_items,
        "queue_overlap": queue_overlap,
        "ratings_acknowledged": sum(acknowledged.values()),
        "ratings_stored": sum(stored.votes.values()),
        "ratings_missing": sum(1 for key in acknowledged if stored.votes.get(key) != 1),
        "ratings_refused": sum(len(p.refused) for p in players),
        "duplicate_rows": sum(n - 1 for n in stored.votes.values() if n > 1) + stored.rating_rows_over_one,
        "overlap_violations": stored.overlap_violations,
        "sticky_violations": sum(p.sticky_violations for p in players),
        "responses_checked": sum(p.responses_checked for p in players),
        "socketio_responses_checked": sum(p.socketio_responses_checked for p in players),
        "p50_rating_ack_ms": round(float(np.percentile(ack_ms, 50)), 1) if ack_ms else None,
        "p99_rating_ack_ms": round(float(np.percentile(ack_ms, 99)), 1) if ack_ms else None,
        "setup_s": round(setup_s, 1),
        "seconds": round(played_s, 1),
        **({"first_refusal": next(r for p in players for r in p.refused)} if any(p.refused for p in players) else {}),
    }
