"""This Chainlit session's language: the browser's, as Chainlit reads it from the Accept-Language
header of the session's websocket (the same language the browser's ``navigator.language`` gives
Chainlit's own texts), unless ``[UI] language`` in .chainlit/config.toml forces one for everybody.
Outside a websocket session (an HTTP request, a benchmark, a test) it is English."""

from __future__ import annotations

from chainlit.config import config
from chainlit.context import ChainlitContextException, context

from playground.ui.i18n import Language, language_of, text


def language_for(browser: str | None) -> Language:
    """The language for a browser's language tag (Chainlit passes one to the starters)."""
    return language_of(config.ui.language or browser)


def current_language() -> Language:
    try:
        session = context.session
    except ChainlitContextException:
        return language_for(None)
    return language_for(getattr(session, "language", None))


def say(key: str, **values: object) -> str:
    """The label ``key`` in this session's language."""
    return text(current_language(), key, **values)
