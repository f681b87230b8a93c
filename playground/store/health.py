"""The database half of the app's health check: reachable, and at the revision this code needs."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from playground.store.database import Database
from playground.store.migrate import current_revision, head_revision

# One query on a small table: a database that takes longer is not healthy for the raters either.
DATABASE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class DatabaseHealth:
    ok: bool  # reachable (it answered the revision query)
    revision: str | None  # the database's current revision (None: empty, or not reachable)
    head: str  # the revision this code needs
    error: str | None = None

    @property
    def at_head(self) -> bool:
        return self.ok and self.revision == self.head

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "revision": self.revision, "head": self.head,
                                 "at_head": self.at_head}
        if self.error:
            found["error"] = self.error
        return found


@functools.cache
def _head() -> str:
    return head_revision()  # read from the migration files once: they do not change while running


async def database_health(db: Database, timeout_s: float = DATABASE_TIMEOUT_S) -> DatabaseHealth:
    """Never raises: a database that cannot answer is reported, with the reason."""
    head = _head()
    try:
        revision = await asyncio.wait_for(current_revision(db), timeout_s)
    except TimeoutError:
        return DatabaseHealth(False, None, head, f"no answer within {timeout_s:g} s")
    except Exception as exc:  # any failure to answer is the answer: not reachable
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return DatabaseHealth(False, None, head, f"{type(exc).__name__}: {message}"[:300])
    if revision != head:
        return DatabaseHealth(True, revision, head, f"at revision {revision or 'none (empty)'}, this playground "
                              f"needs {head}: run `playground db upgrade`")
    return DatabaseHealth(True, revision, head)
