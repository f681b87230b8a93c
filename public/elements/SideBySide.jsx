// Two answers to one prompt, side by side. `props` is injected by Chainlit:
// { panes: { a: Pane, b: Pane }, labels } where Pane = { label, model, html, reasoning, status (the stored
// word: it picks the colour), statusLabel (what the rater reads), error, stats, context } and context = { line ("N tokens of W"), note (what was cut, or why nothing was sent),
// tokens, readingSinceMs (when the prompt was sent: the pane counts the seconds of prefill) }.
// `html` is rendered server-side by markdown-it with raw HTML disabled (model output cannot
// inject markup). Everything shown lives in props or the window's store below, because local state
// may reset on updates. Every
// label comes from the server in the rater's language (`labels` and the panes' own; playground/ui/i18n.py).
//
// A live turn: props are sent once (labels, empty panes, `streamId`); the answers then come as
// `pane_delta` socket.io events (playground/ui/pane_delta.py) applied to a store on `window`,
// keyed by streamId (a remount keeps it; every event is caught, also for elements not mounted yet):
//   { i: streamId, n: seq (1, 2, ...), f: 1 (only on a full state), a: PaneDelta, b: PaneDelta }
// PaneDelta, only what changed (an unchanged pane is left out): [k, t] or [k, t, z] when only the
// html changed, else { k, t, z (html: keep the first k UTF-16 units of the html we have, then t,
// then its last z units; z absent: 0), r: [k, t(, z)] (reasoning, the same way), s status,
// l statusLabel, x stats, e error, c context, m model }.
// Event n applies only on top of n - 1: an old or repeated one is ignored; a gap marks the store
// broken (the panes show props) and asks the server for a full state (window_message
// { paneSync: streamId }), an event with f: 1 that replaces the store. The pane shown is its props
// overlaid with the store's fields. A reopened conversation has full props and no streamId.

import { useEffect, useState } from "react";
import { useChatSession } from "@chainlit/react-client";

const FIELDS = { s: "status", l: "statusLabel", x: "stats", e: "error", c: "context", m: "model" };

// Keep the first change[0] UTF-16 units, then change[1], then the last change[2] units (if any).
function splice(text, change) {
  const suffix = change[2] || 0;
  return text.slice(0, change[0]) + change[1] + (suffix > 0 ? text.slice(text.length - suffix) : "");
}

function applyDelta(state, event) {
  // The same as apply_delta in playground/ui/pane_delta.py (the tests run that one).
  let panes;
  if (event.f) {
    panes = {};
  } else if (state.gap || event.n <= state.n) {
    return state;
  } else if (event.n !== state.n + 1) {
    return { ...state, gap: true };
  } else {
    panes = { ...state.panes };
  }
  for (const side of ["a", "b"]) {
    let change = event[side];
    if (!change) continue;
    if (Array.isArray(change)) change = { k: change[0], t: change[1], z: change[2] || 0 };
    const pane = { ...(panes[side] || {}) };
    if ("k" in change) pane.html = splice(pane.html || "", [change.k, change.t, change.z || 0]);
    if ("r" in change) pane.reasoning = splice(pane.reasoning || "", change.r);
    for (const key in FIELDS) if (key in change) pane[FIELDS[key]] = change[key];
    panes[side] = pane;
  }
  return { n: event.n, gap: false, panes };
}

// One listener per socket for all streams, kept on window: the element's code is evaluated
// again on each props change, and a later turn's events may come before its element mounts.
function paneStreams(socket) {
  const hub = (window.__paneStreams = window.__paneStreams || { stores: {}, views: {}, socket: null });
  if (socket && hub.socket !== socket) {
    if (hub.socket && hub.onDelta) hub.socket.off("pane_delta", hub.onDelta);
    hub.socket = socket;
    hub.onDelta = (event) => {
      if (!event || typeof event.i !== "string") return;
      const before = hub.stores[event.i] || { n: 0, gap: false, panes: {} };
      const after = applyDelta(before, event);
      hub.stores[event.i] = after;
      if (after.gap && !before.gap) socket.emit("window_message", { paneSync: event.i });
      if (after !== before) (hub.views[event.i] || []).forEach((redraw) => redraw((count) => count + 1));
    };
    socket.on("pane_delta", hub.onDelta);
  }
  return hub;
}

// While a model reads a long prompt it sends nothing for seconds (45 s for 256K tokens on an
// H200): the pane says so and counts, so that a slow side never looks hung.
const label = (key) => (props.labels || {})[key] || "";
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));

function Reading({ side, context }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.max(0, Math.floor((now - context.readingSinceMs) / 1000));
  const tokens = context.tokens != null
    ? fill(label("reading_tokens"), { tokens: context.tokens.toLocaleString("en-US") })
    : label("reading_prompt");
  return (
    <div data-testid={`pane-${side}-reading`} style={{ marginTop: 8, fontSize: 13, opacity: 0.8 }}>
      {fill(label("reading"), { tokens, seconds })}
    </div>
  );
}

const STATUS_COLORS = {
  streaming: "#2563eb",
  done: "#16a34a",
  error: "#dc2626",
  stopped: "#d97706",
};

function Pane({ side, pane }) {
  const color = STATUS_COLORS[pane.status] || "#6b7280";
  return (
    <div
      className="flex-1 min-w-0"
      style={{ border: "1px solid rgba(127,127,127,0.35)", borderRadius: 8, padding: 12 }}
    >
      <div style={{ display: "flex", justifyContent: "space-between", alignItems: "baseline", gap: 8 }}>
        <div style={{ fontWeight: 600 }}>
          {pane.label}
          {pane.model ? (
            <span data-testid={`pane-${side}-model`} style={{ fontWeight: 400, opacity: 0.75 }}>
              {" "}· {pane.model}
            </span>
          ) : null}
        </div>
        <span
          data-testid={`pane-${side}-status`}
          style={{ fontSize: 12, color, border: `1px solid ${color}`, borderRadius: 999, padding: "0 8px" }}
        >
          {pane.statusLabel || pane.status}
        </span>
      </div>
      {pane.context && (pane.context.line || pane.context.note) ? (
        <div data-testid={`pane-${side}-context`} style={{ marginTop: 4, fontSize: 12, opacity: 0.75 }}>
          {[pane.context.line, pane.context.note].filter(Boolean).join(" · ")}
        </div>
      ) : null}
      {pane.status === "streaming" && !pane.html && !pane.reasoning && pane.context && pane.context.readingSinceMs ? (
        <Reading side={side} context={pane.context} />
      ) : null}
      {pane.reasoning ? (
        <details data-testid={`pane-${side}-reasoning`} style={{ marginTop: 8, opacity: 0.8 }}>
          <summary style={{ cursor: "pointer", fontSize: 13 }}>{label("reasoning")}</summary>
          <div className="whitespace-pre-wrap" style={{ fontSize: 13, marginTop: 4 }}>
            {pane.reasoning}
          </div>
        </details>
      ) : null}
      <div
        data-testid={`pane-${side}`}
        // A long answer scrolls inside its pane, so both answers stay side by side in view.
        style={{ marginTop: 8, overflowWrap: "anywhere", lineHeight: 1.55, maxHeight: "55vh", overflowY: "auto" }}
        dangerouslySetInnerHTML={{ __html: pane.html || "" }}
      />
      {pane.error ? (
        <div
          data-testid={`pane-${side}-error`}
          role="alert"
          style={{ marginTop: 8, color: "#dc2626", fontSize: 13, overflowWrap: "anywhere" }}
        >
          {pane.error}
        </div>
      ) : null}
      {pane.stats ? (
        <div data-testid={`pane-${side}-stats`} style={{ marginTop: 8, fontSize: 12, opacity: 0.7 }}>
          {pane.stats}
        </div>
      ) : null}
    </div>
  );
}

export default function SideBySide() {
  const { session } = useChatSession();
  const socket = session && session.socket;
  const streamId = props.streamId;
  const [, setSeen] = useState(0);
  useEffect(() => {
    if (!streamId) return undefined;
    const hub = paneStreams(socket);
    const views = (hub.views[streamId] = hub.views[streamId] || []);
    views.push(setSeen);
    // No store yet: either nothing was sent yet (the full state is a few bytes), or this code
    // loaded after the events went by (the page's first turn; a short answer may already have
    // ended, so no later event would show the gap): ask for the whole state.
    if (!hub.stores[streamId] && socket) socket.emit("window_message", { paneSync: streamId });
    setSeen((count) => count + 1);
    return () => {
      hub.views[streamId] = (hub.views[streamId] || []).filter((view) => view !== setSeen);
    };
  }, [streamId, socket]);
  const store = streamId && window.__paneStreams ? window.__paneStreams.stores[streamId] : null;
  const panes = { ...(props.panes || {}) };
  if (store && !store.gap) {
    for (const side in store.panes) panes[side] = { ...(panes[side] || {}), ...store.panes[side] };
  }
  return (
    <div className="grid grid-cols-2 gap-4" style={{ width: "100%" }}>
      {["a", "b"].map((side) =>
        panes[side] ? <Pane key={side} side={side} pane={panes[side]} /> : null
      )}
    </div>
  );
}
