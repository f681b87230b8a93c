"""Which replica answered: an ``X-Playground-Replica`` header on every HTTP response of the app
(pages, API, socket.io polling, /healthz) and the replica's name in every log line.

Behind a proxy with cookie affinity this is how a rater (or a test) sees that a browser stays on
one replica. The name is ``PLAYGROUND_REPLICA`` (``playground up --replica-name``), else the host
name.
"""

from __future__ import annotations

import logging

from chainlit.server import app
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playground.arena.turn_log import TURN_LOGGER
from playground.core.replica import REPLICA_HEADER, check_replica_name, replica_name

LOG_FORMAT = "%(asctime)s - %(levelname)s - {replica} - %(name)s - %(message)s"  # Chainlit's, plus the replica
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class ReplicaHeader:
    """Pure ASGI middleware (not BaseHTTPMiddleware, which would buffer streamed responses)."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.replica = replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REPLICA_HEADER] = self.replica
            await send(message)

        await self.app(scope, receive, send_with_header)


class ReplicaFormatter(logging.Formatter):
    """Chainlit's log format with the replica's name; a turn line (already JSON, naming its
    replica) is written bare, so that a log collector can parse it as it is."""

    def __init__(self, replica: str) -> None:
        super().__init__(LOG_FORMAT.format(replica=replica), DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.name == TURN_LOGGER:
            return record.getMessage()
        return super().format(record)


def install_replica(name: str | None = None) -> str:
    """Add the header and the log format to this process's app (once; a reload keeps them).
    Returns the replica's name. Call it while the app module loads, before the server starts."""
    replica = check_replica_name(name or replica_name())
    if getattr(app.state, "playground_replica", None) is None:
        app.add_middleware(ReplicaHeader, replica=replica)
        app.state.playground_replica = replica
    formatter = ReplicaFormatter(replica)
    for handler in logging.getLogger().handlers:  # the one `chainlit run` sets up (basicConfig)
        handler.setFormatter(formatter)
    return str(app.state.playground_replica)
