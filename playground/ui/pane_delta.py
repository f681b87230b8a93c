"""What a redraw of the side-by-side panes sends: only what changed since the last one.

Chainlit's ``element.update()`` re-sends every prop (both answers' whole HTML) and writes it to a
file, at every redraw: O(length^2) bytes per answer. Instead the element is sent once with empty
panes and a ``streamId``, and each redraw emits one small socket.io event to this session only,
``pane_delta``, that ``public/elements/SideBySide.jsx`` applies to a store on ``window`` (keyed by
the streamId, so a remount keeps it). :func:`apply_delta` is the browser's code in Python, for the
tests.

Payload (keys kept short: the per-event overhead is counted against the answer's size)::

    {"i": streamId, "n": seq, "f": 1 (only on a full state), "a": PaneDelta, "b": PaneDelta}

A pane whose state did not change is left out. ``PaneDelta`` is ``[k, t]`` or ``[k, t, z]`` when only
the html changed (most redraws), else an object of the fields that changed:

    k, t, z html: keep the first ``k`` UTF-16 code units of the html the browser has, then ``t``,
            then its last ``z`` units (``z`` absent: none). ``k`` and ``z`` are the common prefix
            and suffix of the last sent and the new html: a token appended inside a paragraph, a
            list item, a table cell or a code block sends the token, not the closing tags after
            it again. JavaScript's ``html.slice(0, k) + t + html.slice(html.length - z)``.
    r       reasoning, the same way: ``[k, t]`` or ``[k, t, z]``
    s       status (the stored word: it picks the colour)    l  statusLabel (what the rater reads)
    x       stats                                            e  error
    c       context (``{line, note, tokens, readingSinceMs}``)  m  model (a reveal after the vote)

``n`` counts the events of one stream from 1. The browser applies event ``n`` only on top of
``n - 1``: an older or repeated one is ignored; a gap (an event lost, or sent before the element's
code had mounted and subscribed) marks the store broken, the pane shows its props and asks the
server (``window_message`` ``{"paneSync": streamId}``) for a full state: an event with ``f: 1``
whose panes carry every field (``k: 0``), which replaces the store whatever it held.

A reopened conversation comes from the data layer with full props and no streamId: the element
shows its props.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from playground.ui.markdown_stream import StreamingMarkdown, render_markdown
from playground.ui.throttle import RedrawPolicy

EVENT = "pane_delta"
# A pane's fields sent whole when they change (props name -> payload key).
WHOLE_FIELDS = {"status": "s", "statusLabel": "l", "stats": "x", "error": "e", "context": "c", "model": "m"}
TRACKED = ("html", "reasoning", *WHOLE_FIELDS)

Pane = dict[str, Any]


def new_stream_id() -> str:
    return secrets.token_urlsafe(4)  # 6 characters: unique enough within one browser page


def utf16_len(text: str) -> int:
    """The length JavaScript sees: characters outside the BMP (emoji) are two code units.
    Counted by the codec (C speed): it runs on the whole kept html at every redraw."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def common_prefix(a: str, b: str) -> int:
    """Length (in characters) of the longest common prefix, by bisection on slices (C speed)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:  # a[:low] == b[:low] and a[:high] != b[:high]
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def common_suffix(a: str, b: str) -> int:
    """Length (in characters) of the longest common suffix, by bisection on slices."""
    low, high = 0, min(len(a), len(b))
    if high == 0 or a[len(a) - high:] == b[len(b) - high:]:
        return high
    while low < high:  # the last ``low`` agree, the last ``high`` do not
        mid = (low + high + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            low = mid
        else:
            high = mid - 1
    return low


def text_delta(old: str, new: str) -> list[Any]:
    """``[keep, middle]`` or ``[keep, middle, suffix]``, ``keep`` and ``suffix`` in UTF-16 code units:
    ``old.slice(0, keep) + middle + old.slice(old.length - suffix) == new`` in JavaScript."""
    shared = common_prefix(old, new)
    tail = common_suffix(old[shared:], new[shared:])
    middle = new[shared:len(new) - tail]
    keep = utf16_len(new[:shared])
    return [keep, middle, utf16_len(new[len(new) - tail:])] if tail else [keep, middle]


def _utf16_prefix(text: str, units: int) -> str:
    return text.encode("utf-16-le", "surrogatepass")[: 2 * units].decode("utf-16-le", "surrogatepass")


def _utf16_suffix(text: str, units: int) -> str:
    if units <= 0:
        return ""
    return text.encode("utf-16-le", "surrogatepass")[-2 * units:].decode("utf-16-le", "surrogatepass")


def splice(text: str, change: list[Any]) -> str:
    """``text`` after a ``[keep, middle(, suffix)]`` change (what the browser does)."""
    suffix = int(change[2]) if len(change) > 2 else 0
    return _utf16_prefix(text, int(change[0])) + str(change[1]) + _utf16_suffix(text, suffix)


def pane_delta(old: Mapping[str, Any], new: Mapping[str, Any]) -> Pane:
    """The changed fields of one pane (empty: nothing changed)."""
    delta: Pane = {}
    old_html, new_html = old.get("html") or "", new.get("html") or ""
    if old_html != new_html:
        change = text_delta(old_html, new_html)
        delta["k"], delta["t"] = change[0], change[1]
        if len(change) > 2:
            delta["z"] = change[2]
    old_reasoning, new_reasoning = old.get("reasoning") or "", new.get("reasoning") or ""
    if old_reasoning != new_reasoning:
        delta["r"] = text_delta(old_reasoning, new_reasoning)
    for field, key in WHOLE_FIELDS.items():
        if old.get(field) != new.get(field):
            delta[key] = new.get(field)
    return delta


class PaneStream:
    """The server's side of one streamed element: what it last sent for each pane."""

    def __init__(self, initial: Mapping[str, Mapping[str, Any]], stream_id: str | None = None) -> None:
        self.stream_id = stream_id or new_stream_id()
        self.seq = 0
        # The browser's base before any event: the element's initial props.
        self.last: dict[str, Pane] = {side: {f: pane.get(f) for f in TRACKED} for side, pane in initial.items()}

    def delta(self, panes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
        """The event that brings the browser from the last sent state to ``panes`` (props-shaped
        panes; other keys ignored), or None when nothing changed."""
        event: dict[str, Any] = {}
        for side, pane in panes.items():
            changed = pane_delta(self.last.get(side, {}), pane)
            if changed:
                # Only the html changed (most redraws): the pane is the change itself, ``[k, t(, z)]``.
                html_only = changed.keys() <= {"k", "t", "z"} and "k" in changed
                event[side] = [changed["k"], changed["t"], *([changed["z"]] if "z" in changed else [])] \
                    if html_only else changed
                self.last[side] = {f: pane.get(f) for f in TRACKED}
        if not event:
            return None
        self.seq += 1
        return {"i": self.stream_id, "n": self.seq, **event}

    def full(self) -> dict[str, Any]:
        """The whole last sent state as one event (the answer to a browser that saw a gap)."""
        self.seq += 1
        panes = {
            side: {"k": 0, "t": pane.get("html") or "", "r": [0, pane.get("reasoning") or ""]}
            | {key: pane.get(field) for field, key in WHOLE_FIELDS.items()}
            for side, pane in self.last.items()
        }
        return {"i": self.stream_id, "n": self.seq, "f": 1, **panes}


# --- the browser's side (SideBySide.jsx does exactly this) ----------------------------------


def empty_client() -> dict[str, Any]:
    return {"n": 0, "gap": False, "panes": {}}


def apply_delta(state: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The browser's store after ``event``: ``{"n": last applied seq, "gap": waits for a full
    state, "panes": {side: {html, reasoning, status, ...}}}``. Pure: returns a new state."""
    seq = int(event["n"])
    if event.get("f"):
        panes: dict[str, Pane] = {}
    elif state["gap"] or seq <= state["n"]:
        return dict(state)  # broken until a full state comes; or an old / repeated event
    elif seq != state["n"] + 1:
        return {**state, "gap": True}
    else:
        panes = {side: dict(pane) for side, pane in state["panes"].items()}
    for side in ("a", "b"):
        change = event.get(side)
        if not change:
            continue
        if isinstance(change, list):
            change = {"k": change[0], "t": change[1], "z": change[2] if len(change) > 2 else 0}
        pane = panes.setdefault(side, {})
        if "k" in change:
            pane["html"] = splice(pane.get("html") or "", [change["k"], change["t"], change.get("z", 0)])
        if "r" in change:
            pane["reasoning"] = splice(pane.get("reasoning") or "", change["r"])
        for field, key in WHOLE_FIELDS.items():
            if key in change:
                pane[field] = change[key]
    return {"n": seq, "gap": False, "panes": panes}


# --- measuring ---------------------------------------------------------------------------------


def wire_bytes(payload: Any, event: str = EVENT) -> int:
    """Bytes of the socket.io text frame python-socketio sends for ``emit(event, payload)``
    (engine.io ``4`` message, socket.io ``2`` event, compact JSON with ASCII escapes)."""
    return len("42" + json.dumps([event, payload], separators=(",", ":")))


@dataclass(frozen=True)
class TurnBytes:
    events: int
    delta_bytes: int  # every pane_delta frame, the final state included
    html_bytes: int  # both final panes' HTML, UTF-8
    parsed_chars: int  # what went through the markdown parser, both panes

    @property
    def ratio(self) -> float:
        return self.delta_bytes / self.html_bytes if self.html_bytes else float("inf")


def simulate_turn_bytes(
    texts: Mapping[str, str],
    tokens_per_s: float | Mapping[str, float],
    chars_per_token: int = 4,
    policy: RedrawPolicy | None = None,
    stats: str = "TTFT 0.20 s · 20.0 tok/s · 256 tokens",
) -> TurnBytes:
    """One turn offline: each pane's text arrives in tokens of ``chars_per_token`` characters at
    ``tokens_per_s`` (per pane), redrawn as the app's throttle policy decides (on a virtual
    clock), rendered incrementally, sent as deltas, ending with the final state (full render,
    status done, stats). Returns the bytes of the pane_delta frames against the final HTML."""
    policy = policy or RedrawPolicy()
    rates = tokens_per_s if isinstance(tokens_per_s, Mapping) else dict.fromkeys(texts, tokens_per_s)
    arrivals = sorted(
        (i / rates[side], side, text[i * chars_per_token:(i + 1) * chars_per_token])
        for side, text in texts.items() for i in range((len(text) + chars_per_token - 1) // chars_per_token)
    )
    shown = {side: "" for side in texts}
    renderers = {side: StreamingMarkdown() for side in texts}
    start = {side: {"html": "", "reasoning": "", "status": "streaming", "statusLabel": "streaming"} for side in texts}
    stream = PaneStream(start)
    frames: list[int] = []
    client = empty_client()

    def draw(final: bool = False) -> None:
        nonlocal client
        panes = {
            side: {**start[side], "html": renderers[side].finish(shown[side]) if final
                   else renderers[side].update(shown[side])}
            | ({"status": "done", "statusLabel": "done", "stats": stats} if final else {})
            for side in texts
        }
        event = stream.delta(panes)
        if event is not None:
            frames.append(wire_bytes(event))
            client = apply_delta(client, event)

    pending = _Pending(policy)
    for _at, side, chunk in _with_draw_times(arrivals, pending):
        if side is None:
            draw()
            continue
        shown[side] += chunk
    draw(final=True)
    html = sum(len(render_markdown(text).encode()) for text in texts.values())
    assert all(client["panes"][s]["html"] == render_markdown(t) for s, t in texts.items() if t)
    return TurnBytes(len(frames), sum(frames), html, sum(r.parsed_chars for r in renderers.values()))


class _Pending:
    """The throttle's bookkeeping on a virtual clock (the same policy as RedrawThrottle)."""

    def __init__(self, policy: RedrawPolicy) -> None:
        self.policy = policy
        self.last = float("-inf")
        self.first: float | None = None
        self.chars = 0
        self.urgent = False

    def due(self) -> float | None:
        if self.first is None:
            return None
        return max(self.first, self.policy.due(self.last, self.first, self.chars, self.urgent))


def _with_draw_times(
    arrivals: Iterable[tuple[float, str, str]], pending: _Pending
) -> Iterable[tuple[float, str | None, str]]:
    """The arrivals, with ``(time, None, "")`` inserted where the policy redraws."""
    seen: set[str] = set()
    for at, side, chunk in arrivals:
        while (due := pending.due()) is not None and due <= at:
            yield due, None, ""
            pending.last, pending.first, pending.chars, pending.urgent = due, None, 0, False
        yield at, side, chunk
        if pending.first is None:
            pending.first = at
        pending.chars += len(chunk)
        pending.urgent = pending.urgent or side not in seen  # a pane's first text: shown at once
        seen.add(side)
