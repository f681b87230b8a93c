"""Several app replicas behind HAProxy on loopback, sharing one PostgreSQL server: the scale-out
of compose/ run for real on one machine, for ``tests/test_replicas.py`` and ``playground bench
replicas``.

:class:`ReplicaStack` starts, on 127.0.0.1 only and on free ports,

* a throw-away PostgreSQL server (:mod:`playground.devtools.postgres_server`), migrated, with the
  given rater accounts;
* one ``chainlit run`` process per replica name (``PLAYGROUND_REPLICA``), all with the same
  ``CHAINLIT_AUTH_SECRET`` (a login token from one replica is valid on the others), the same
  ``PLAYGROUND_DATABASE_URL`` and the same config; each in its own app folder, because Chainlit
  deletes ``<app folder>/.files`` when it stops and the others still use theirs;
* Debian's HAProxy with a generated config: the deployed one's cookie affinity
  (``cookie SERVERID insert indirect nocache``), websocket-friendly timeouts (``timeout tunnel``),
  health checks on ``/healthz`` and ``option redispatch``, so that a rater whose replica died is
  sent to a live one.

Everything stops on :meth:`ReplicaStack.stop` (or leaving the ``with`` block);
:meth:`ReplicaStack.kill` ends one replica the hard way (SIGKILL), as a crash would.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from playground.core.locations import app_files
from playground.core.replica import REPLICA_ENV, REPLICA_HEADER, check_replica_name
from playground.devtools.postgres_server import PostgresServer, free_port

COOKIE = "SERVERID"  # the affinity cookie's name, as in compose/haproxy.cfg
HEALTH_PATH = "/healthz"


class ReplicaStackError(RuntimeError):
    pass


def haproxy_binary() -> Path:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        raise ReplicaStackError("HAProxy is missing (apt-get install haproxy, or run .ci/setup)")
    return Path(found)


@dataclass(frozen=True)
class RaterAccount:
    name: str
    password: str
    admin: bool = False


def haproxy_config(port: int, replicas: Sequence[tuple[str, int]], stats_socket: Path) -> str:
    """HAProxy's config for app replicas on loopback: compose/haproxy.cfg's choices, with health
    checks every 2 s (so a dead replica is out within ~6 s instead of 15) and no DNS."""
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{server_port} cookie {name}" for name, server_port in replicas
    )
    return f"""\
global
    maxconn 4096
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    option http-server-close
    option forwardfor
    option redispatch          # the cookie's replica is down: send the browser to a healthy one
    retries 2
    timeout connect 2s
    timeout http-request 30s
    timeout queue 30s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h          # an upgraded websocket
    timeout client-fin 30s

frontend playground
    bind 127.0.0.1:{port}
    default_backend app

backend app
    # New sessions go to the replica with the fewest open connections: a session is one
    # long-lived websocket, so connections count sessions.
    balance leastconn
    cookie {COOKIE} insert indirect nocache httponly
    option httpchk
    http-check send meth GET uri {HEALTH_PATH} ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    # A replica busy with answers on a loaded machine can take a second or more for /healthz:
    # a check may take 5 s, and three must fail in a row, before it is taken out (a crashed one
    # refuses connections at once: out within ~6 s).
    timeout check 5s
    default-server check inter 2s fall 3 rise 1
{servers}
"""


@dataclass
class AppReplica:
    """One ``chainlit run`` process of the app."""

    name: str
    port: int
    app_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        self.app_dir.mkdir(parents=True, exist_ok=True)
        shipped = app_files()
        for name in (".chainlit", "public"):  # read-only for Chainlit: shared
            link = self.app_dir / name
            if not link.exists():
                link.symlink_to(shipped / name, target_is_directory=True)
        shutil.copy2(shipped / "chainlit.md", self.app_dir / "chainlit.md")
        command = [sys.executable, "-m", "chainlit", "run", str(shipped / "chainlit_app.py"), "--headless",
                   "--host", "127.0.0.1", "--port", str(self.port)]
        replica_env = dict(env, CHAINLIT_APP_ROOT=str(self.app_dir))
        replica_env[REPLICA_ENV] = self.name
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.app_dir, env=replica_env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, deadline: float) -> None:
        """Until ``/healthz`` answers 200 (the database at head; models may be degraded)."""
        while time.monotonic() < deadline:
            if not self.alive():
                raise ReplicaStackError(f"replica {self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}{HEALTH_PATH}", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise ReplicaStackError(f"replica {self.name} not healthy in time:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash: no graceful shutdown, open websockets just drop."""
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


class ReplicaStack:
    """PostgreSQL, ``len(replicas)`` app replicas and HAProxy in front of them, on loopback."""

    def __init__(
        self,
        config: Path,
        raters: Sequence[RaterAccount],
        replicas: Sequence[str] = ("r1", "r2"),
        work_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if len(set(replicas)) != len(replicas) or not replicas:
            raise ValueError("replica names must be given and differ")
        for name in replicas:
            check_replica_name(name)
        self.config = config.resolve()
        self.raters = list(raters)
        self._own_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="playground-replicas-")) if work_dir is None else work_dir
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = extra_env or {}
        self.postgres: PostgresServer | None = None
        self.replicas = {
            name: AppReplica(name, free_port(), self.work_dir / f"app-{name}", self.work_dir / f"{name}.log")
            for name in replicas
        }
        self.proxy_port = free_port()
        self.haproxy_config_path = self.work_dir / "haproxy.cfg"
        self.haproxy_log = self.work_dir / "haproxy.log"
        self.stats_socket = self.work_dir / "haproxy.sock"
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.auth_secret = secrets.token_urlsafe(48)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def database_url(self) -> str:
        if self.postgres is None:
            raise ReplicaStackError("the stack is not started")
        return self.postgres.url

    # --- start and stop -------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> ReplicaStack:
        """Start everything and wait until HAProxy routes to every replica. It blocks (and runs
        its own event loop to prepare the database): from async code, call it in a thread."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        self.postgres = PostgresServer().start()
        asyncio.run(prepare_database(self.postgres.url, self.raters))
        env = dict(os.environ, HF_HUB_OFFLINE="1", PLAYGROUND_CONFIG=str(self.config),
                   PLAYGROUND_DATABASE_URL=self.postgres.url, CHAINLIT_AUTH_SECRET=self.auth_secret,
                   **self.extra_env)
        env.pop("PROJECT", None)  # Chainlit's settings would try to parse it
        env.pop("DATABASE_URL", None)  # Chainlit would take it for its own data layer
        for replica in self.replicas.values():
            replica.start(env)
        deadline = time.monotonic() + timeout
        for replica in self.replicas.values():
            replica.wait_ready(deadline)
        self._start_haproxy()
        self.wait_routed(set(self.replicas), 60.0)

    def _start_haproxy(self) -> None:
        text = haproxy_config(self.proxy_port, [(r.name, r.port) for r in self.replicas.values()],
                              self.stats_socket)
        self.haproxy_config_path.write_text(text)
        binary = str(haproxy_binary())
        checked = subprocess.run([binary, "-c", "-q", "-f", str(self.haproxy_config_path)],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            raise ReplicaStackError(f"haproxy -c refused the config: {checked.stderr}")
        with self.haproxy_log.open("wb") as log:
            # -db: stay in the foreground (stop() ends it); -W is not needed without reloads.
            self.haproxy = subprocess.Popen([binary, "-db", "-f", str(self.haproxy_config_path)],
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
        for replica in self.replicas.values():
            replica.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> ReplicaStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the proxy sees --------------------------------------------------------------

    def server_states(self) -> dict[str, str]:
        """Replica name -> HAProxy's status of it (``UP``, ``DOWN``, ``UP 1/2``, ...), from the
        stats socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.stats_socket))
            conn.sendall(b"show stat\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text))
                if row.get("pxname") == "app" and row["svname"] in self.replicas}

    def wait_routed(self, up: set[str], timeout: float = 30.0) -> None:
        """Until HAProxy counts exactly ``up`` as UP and the others as DOWN (a server failing its
        checks is "UP 1/3" for a while, and still gets requests until then)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.haproxy is None or self.haproxy.poll() is not None:
                log = self.haproxy_log.read_text(errors="replace")[-3000:] if self.haproxy_log.exists() else ""
                raise ReplicaStackError(f"haproxy is not running:\n{log}")
            try:
                states = self.server_states()
            except OSError:
                states = {}
            if states and all((status == "UP") == (name in up) and (name in up or status.startswith("DOWN"))
                              for name, status in states.items()):
                return
            time.sleep(0.2)
        raise ReplicaStackError(f"HAProxy does not see {sorted(up)} up (and only them): {states}\n{self.logs(1500)}")

    def kill(self, name: str) -> None:
        """Kill one replica (SIGKILL) and wait until HAProxy has taken it out."""
        self.replicas[name].kill()
        self.wait_routed({n for n, r in self.replicas.items() if r.alive()})

    def logs(self, chars: int = 3000) -> str:
        """The tail of every log, for a failure's report."""
        parts = [f"--- {r.name} ---\n{r.log_tail(chars)}" for r in self.replicas.values()]
        if self.haproxy_log.exists():
            parts.append(f"--- haproxy ---\n{self.haproxy_log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def replica_of(headers: httpx.Headers | dict[str, str]) -> str | None:
    """The replica an HTTP response came from."""
    return headers.get(REPLICA_HEADER) or headers.get(REPLICA_HEADER.lower())


async def prepare_database(url: str, raters: Sequence[RaterAccount]) -> None:
    from playground.store.database import Database
    from playground.store.migrate import upgrade
    from playground.store.raters import add_rater

    db = Database(url)
    try:
        await upgrade(db)
        for rater in raters:
            await add_rater(db, rater.name, rater.password, admin=rater.admin)
    finally:
        await db.dispose()


async def store_queue_items(
    url: str, model_a: str, model_b: str, count: int, prompt_set: str = "replicas"
) -> list[int]:
    """``count`` complete batch turns of these two models for the rating queue (what ``playground
    batch`` stores, with short made-up answers: the queue, not the models, is under test).
    Returns their turn ids."""
    from playground.core.generation import GenerationRecord
    from playground.core.vocabulary import Side
    from playground.store.database import Database
    from playground.store.queue import batch_rater_id, store_batch_turn

    def record(side: Side, model: str, n: int) -> GenerationRecord:
        return GenerationRecord(
            side=side, model=model, text=f"Answer {n} from side {side}.", reasoning="", status="done",
            finish_reason="stop", error=None, latency_s=0.5, ttft_s=0.05, tpot_s=0.01, itl_s=(0.01,),
            output_tokens=6, prompt_tokens=12, tokens_per_s=12.0,
        )

    db = Database(url)
    try:
        owner = await batch_rater_id(db)
        ids = []
        for n in range(count):
            turn = await store_batch_turn(
                db, owner, prompt_set=prompt_set, item_id=f"item-{n:03d}", category="replicas",
                prompt=f"Queue item {n}: say something.", system_prompt="", settings={},
                records={"a": record("a", model_a, n), "b": record("b", model_b, n)}, sampling={"a": {}, "b": {}},
            )
            assert turn.id is not None
            ids.append(turn.id)
        return ids
    finally:
        await db.dispose()
