"""The name of this app replica: in its log lines, its turn log and its ``X-Playground-Replica``
response header, so that several replicas behind one proxy can be told apart.

``playground up --replica-name NAME`` passes it to the app in ``PLAYGROUND_REPLICA``; without
one, the host name (a container's host name is its id, which tells compose replicas apart).
"""

from __future__ import annotations

import os
import re
import socket

REPLICA_ENV = "PLAYGROUND_REPLICA"
REPLICA_HEADER = "X-Playground-Replica"
# It goes into an HTTP header and a log format: letters, digits and . _ : - only (no spaces,
# no line breaks, no %), as host names and compose's container names are.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def check_replica_name(name: str) -> str:
    """``name`` if it can be a replica name; ValueError saying why not otherwise."""
    if not _VALID.fullmatch(name):
        raise ValueError(
            f"replica name {name!r} is not usable: 1 to 128 letters, digits, '.', '_', ':' or '-'"
        )
    return name


def replica_name() -> str:
    """``PLAYGROUND_REPLICA`` when set, else this machine's host name."""
    return os.environ.get(REPLICA_ENV, "").strip() or socket.gethostname() or "replica"
