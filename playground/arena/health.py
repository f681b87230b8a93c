"""What the app's ``/healthz`` reports: the database (reachable, at head) and each arena model
(reachable, its context window).

The status decides whether a proxy or an orchestrator keeps sending raters to this replica:

* ``down`` (HTTP 503): the database cannot be reached or is not at this code's revision. Nothing
  can be stored, so no rater should land here.
* ``degraded`` (HTTP 200): the database is fine but a model is not. Every replica shares the same
  model servers, so taking this one out would not help; its panes show the model's error, and the
  ratings and history still work.
* ``ok`` (HTTP 200).

A proxy polls every few seconds, from every replica: the model checks are cached for
:data:`MODELS_CACHE_S` and shared by concurrent polls, so model servers see at most one
``/v1/models`` per replica per interval. The database is asked on every poll (one small query).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from playground.backends.base import Backend
from playground.backends.registry import BackendPool
from playground.core.config import OpenAIModel, PlaygroundConfig, TransformersModel
from playground.store.database import Database
from playground.store.health import DatabaseHealth, database_health

MODELS_CACHE_S = 5.0
MODEL_TIMEOUT_S = 2.0  # /v1/models answers at once from a live server, even a busy one

HealthStatus = Literal["ok", "degraded", "down"]


@dataclass(frozen=True)
class ModelHealth:
    ok: bool
    context_window: int | None
    window_source: str | None  # "server" (read live) or "config"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "context_window": self.context_window,
                                 "window_source": self.window_source}
        if self.error:
            found["error"] = self.error
        return found


@dataclass(frozen=True)
class Health:
    replica: str
    database: DatabaseHealth
    models: dict[str, ModelHealth]

    @property
    def status(self) -> HealthStatus:
        if not self.database.at_head:
            return "down"
        return "ok" if all(m.ok for m in self.models.values()) else "degraded"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "down" else 200

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "replica": self.replica, "database": self.database.as_json(),
                "models": {name: health.as_json() for name, health in self.models.items()}}


async def model_health(
    model: OpenAIModel | TransformersModel, backend: Backend, timeout_s: float = MODEL_TIMEOUT_S
) -> ModelHealth:
    """Reachable (a server lists the model; a local backend answers) and the window the app uses.
    Never raises and never takes much longer than ``timeout_s``."""
    reachable = asyncio.ensure_future(_served(model, timeout_s)) if isinstance(model, OpenAIModel) else None
    error: str | None = None
    try:
        window = await asyncio.wait_for(backend.context_window(), timeout_s)
        tokens, source = window.tokens, window.source
    except TimeoutError:
        tokens, source = model.context_window, "config"
        error = f"no context window within {timeout_s:g} s"
    except Exception as exc:  # a local backend that cannot answer is not healthy
        tokens, source = model.context_window, "config"
        error = f"{type(exc).__name__}: {exc}"[:300]
    if reachable is not None:
        error = await reachable or error
    return ModelHealth(error is None, tokens, source, error)


async def _served(model: OpenAIModel, timeout_s: float) -> str | None:
    """None when the server lists ``model.model`` in ``/v1/models``; else why not."""
    url = f"{model.base_url.rstrip('/')}/models"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url, headers={"Authorization": f"Bearer {model.api_key() or 'EMPTY'}"})
    except httpx.TimeoutException:
        return f"{url} timed out after {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"cannot reach {url}: {type(exc).__name__}"
    if response.status_code != 200:
        return f"{url} answered HTTP {response.status_code}"
    try:
        entries = response.json().get("data")
        served = [str(entry.get("id")) for entry in entries if isinstance(entry, dict)]
    except (ValueError, AttributeError, TypeError):
        return f"{url} did not answer a model list"
    if model.model not in served:
        return f"{url} does not serve {model.model!r} (it serves {', '.join(map(repr, served[:5])) or 'nothing'})"
    return None


@dataclass
class HealthCheck:
    """One per app process: the arena's models and the database, checked on demand."""

    config: PlaygroundConfig
    pool: BackendPool
    db: Database
    cache_s: float = MODELS_CACHE_S
    timeout_s: float = MODEL_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic
    _models: tuple[float, dict[str, ModelHealth]] | None = field(default=None, init=False)
    _checking: asyncio.Future[dict[str, ModelHealth]] | None = field(default=None, init=False)

    def model_names(self) -> list[str]:
        return self.config.arena.model_names()

    async def check(self, replica: str) -> Health:
        database, models = await asyncio.gather(database_health(self.db), self.models())
        return Health(replica, database, models)

    async def models(self) -> dict[str, ModelHealth]:
        """Each arena model's health, at most ``cache_s`` old; concurrent callers share one check."""
        if self._models is not None and self.clock() - self._models[0] < self.cache_s:
            return self._models[1]
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self._check_models())
        # Shielded: a caller that goes away (a proxy's own timeout) does not cancel the others' check.
        return await asyncio.shield(self._checking)

    async def _check_models(self) -> dict[str, ModelHealth]:
        names = self.model_names()
        found = await asyncio.gather(
            *(model_health(self.config.model(name), self.pool.get(name), self.timeout_s) for name in names)
        )
        models = dict(zip(names, found, strict=True))
        self._models = (self.clock(), models)
        return models
