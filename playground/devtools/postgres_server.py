"""A throw-away PostgreSQL server on loopback, for the tests and ``playground bench store``.

Uses Debian's PostgreSQL binaries (package ``postgresql``): ``initdb`` a new cluster in a
folder, ``pg_ctl start`` it on 127.0.0.1 only, and remove it afterwards. PostgreSQL refuses to
run as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

DB_NAME = "playground"
DB_USER = "playground"
DB_PASSWORD = "playground"


class PostgresServerError(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresServerError(
            "PostgreSQL's server binaries are missing (apt-get install postgresql, or run .ci/setup)"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bin = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="playground-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, *args: str, input: str | None = None) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, input=input, capture_output=True, text=True)
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresServerError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )

    def start(self, timeout: float = 60.0) -> PostgresServer:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c max_connections=200 -c fsync=on"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(int(timeout)),
                  "start")
        sql = (
            f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}';\n"
            f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n"
        )
        self._run(*self._psql(), input=sql)
        return self

    def create_database(self, name: str) -> str:
        """A further empty database on this server; returns its URL."""
        self._run(*self._psql(), input=f'CREATE DATABASE "{name}" OWNER {DB_USER};\n')
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{name}"

    def _psql(self) -> tuple[str, ...]:
        """psql as the superuser on this server, stopping at the first error."""
        return ("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                "-v", "ON_ERROR_STOP=1", "-q")

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            except PostgresServerError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

