"""``GET /healthz``: the replica's health as JSON for a proxy, compose and people
(what is checked, and when it is 503, is in :mod:`playground.arena.health`).

Chainlit's router ends with a catch-all route that serves the single-page app for every GET path,
and it is included in the server when ``chainlit.server`` is imported, before the app module
loads: a route added afterwards would never be reached. So this route is put first.
"""

from __future__ import annotations

from chainlit.config import config
from chainlit.server import app
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse

from playground.arena.health import HealthCheck
from playground.ui.context import AppContext

HEALTH_PATH = "/healthz"


def install_health(context: AppContext, replica: str) -> HealthCheck:
    """Serve ``/healthz`` (under Chainlit's root path, as its own routes are) from this app's
    config, database and backends. Calling it again (a reload) replaces the route."""
    check = HealthCheck(context.config, context.pool, context.db)

    async def healthz(request: Request) -> JSONResponse:
        health = await check.check(replica)
        found = health.as_json()
        # The event loop's lag: the last minute, or since ``?lag_since=<epoch seconds>`` (a load
        # benchmark's run). A loop that lags answers every rater of this replica late.
        since = request.query_params.get("lag_since")
        try:
            found["loop_lag"] = context.loop_lag.summary(since=float(since) if since else None)
            found["gc"] = context.gc_pauses.summary(since=float(since) if since else None)
            found["event_loop"] = context.timers.summary()
        except ValueError:
            found["loop_lag"] = {"error": "lag_since must be a number (seconds since the epoch)"}
        # Never cached by a proxy or a browser: each answer is the state now.
        return JSONResponse(found, status_code=health.http_status, headers={"Cache-Control": "no-store"})

    path = f"{config.run.root_path}{HEALTH_PATH}"
    route = APIRoute(path, healthz, methods=["GET", "HEAD"], include_in_schema=False)
    routes = app.router.routes
    routes[:] = [r for r in routes if getattr(r, "path", None) != path]
    routes.insert(0, route)
    return check
