"""Count this process's open TCP connections to a port, read from /proc (Linux).

A Stop must close the HTTP connection to the server: that is the one signal a client can give,
and what makes vLLM abort the request. Listing our own ESTABLISHED sockets checks it directly
(other clients' idle keep-alive connections may be there too: compare before and after).
"""

from __future__ import annotations

import os
from pathlib import Path

ESTABLISHED = "01"


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed between listing and reading
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def connections_to(port: int) -> set[int]:
    """The local ports of this process's ESTABLISHED TCP connections to ``port``."""
    own = _own_socket_inodes()
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == ESTABLISHED and fields[9] in own:
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found
