"""Undo ``nest_asyncio`` in the app process: C tasks and asyncio's own event loop again.

``chainlit run`` applies ``nest_asyncio`` when its command line is imported, so that a running
loop can be re-entered (Chainlit needs that only for chat profiles with config overrides; this
app has none). The patch swaps asyncio's C ``Task`` and ``Future`` for the pure-Python ones and the
loop's ``_run_once`` for a simpler copy, which costs every socket.io event, every streamed token
and every database round trip of every rater; the copy also never drops cancelled timers from the
heap except at its top. :func:`undo_nest_asyncio` restores asyncio as it ships, before Chainlit
starts its loop (the app module is imported first).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import asyncio.futures
import asyncio.runners
import asyncio.tasks
from typing import Any

# What nest_asyncio sets on the loop class it patches (asyncio's base class has the originals).
_LOOP_ATTRIBUTES = ("run_forever", "run_until_complete", "_run_once", "_check_running", "_check_runnung",
                    "_num_runs_pending", "_is_proactorloop", "_nest_patched")


def nest_asyncio_applied() -> bool:
    return bool(getattr(asyncio, "_nest_patched", False))


def undo_nest_asyncio() -> bool:
    """Restore asyncio's C tasks and futures, its ``run`` and event-loop lookup, and the default
    loop class's methods. Returns whether there was anything to undo. Call it before the loop
    that should run unpatched starts."""
    if not nest_asyncio_applied():
        return False
    import _asyncio

    asyncio.Task = asyncio.tasks.Task = asyncio.tasks._CTask = _asyncio.Task  # type: ignore[misc,attr-defined]
    asyncio.Future = asyncio.futures.Future = asyncio.futures._CFuture = _asyncio.Future  # type: ignore[misc,attr-defined]
    asyncio.run = asyncio.runners.run
    events: Any = asyncio.events
    events.get_event_loop = asyncio.get_event_loop = _asyncio.get_event_loop
    events._get_event_loop = _asyncio._get_event_loop  # type: ignore[attr-defined]
    policy_class: Any = type(events.get_event_loop_policy())
    policy_class.get_event_loop = events.BaseDefaultEventLoopPolicy.get_event_loop
    loop_class: Any = type(events.get_event_loop_policy().new_event_loop())
    for name in _LOOP_ATTRIBUTES:
        if name in vars(loop_class):
            delattr(loop_class, name)
    del asyncio._nest_patched  # type: ignore[attr-defined]
    return True
