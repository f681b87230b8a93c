"""Which web pages may open the app's socket: its own, and those ``allow_origins`` in
``.chainlit/config.toml`` lists.

Chainlit applies ``allow_origins`` to HTTP (CORS) only; its socket.io server is built with origin
checks turned off, so any site could open a socket with a rater's cookie. Here python-engineio is
given a check of its own: the page's Origin must be the app's own scheme and host (also as a proxy
reports them in X-Forwarded-Proto / X-Forwarded-Host) or one of the configured origins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chainlit.config import config
from chainlit.server import sio


def own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The origins of the app's own page for one request, directly and behind a proxy."""
    host = environ.get("HTTP_HOST")
    scheme = environ.get("wsgi.url_scheme", "http")
    if not host:
        return set()
    found = {f"{scheme}://{host}"}
    forwarded_host = str(environ.get("HTTP_X_FORWARDED_HOST", host)).split(",")[0].strip()
    forwarded_scheme = str(environ.get("HTTP_X_FORWARDED_PROTO", scheme)).split(",")[0].strip()
    found.add(f"{forwarded_scheme}://{forwarded_host}")
    return found


def origin_check(configured: list[str]) -> Callable[[str, Mapping[str, Any]], bool]:
    allowed = {origin for origin in configured if origin}

    def accepts(origin: str, environ: Mapping[str, Any]) -> bool:
        return "*" in allowed or origin in allowed or origin in own_origins(environ)

    return accepts


def restrict_socket_origins() -> None:
    """Apply the check to Chainlit's socket.io server (called once when the app starts)."""
    sio.eio.cors_allowed_origins = origin_check(list(config.project.allow_origins))
