// Two answers to one prompt, side by side. `props` is injected by Chainlit:
// { panes: { a: Pane, b: Pane }, labels } where Pane = { label, model, html, reasoning, status (the stored
// word: it picks the colour), statusLabel (what the rater reads), error, stats, context } and context = { line ("N tokens of W"), note (what was cut, or why nothing was sent),
// tokens, readingSinceMs (when the prompt was sent: the pane counts the seconds of prefill) }.
// `html` is rendered server-side by markdown-it with raw HTML disabled (model output cannot
// inject markup). Everything shown lives in props, because local state may reset on updates. Every
// label comes from the server in the rater's language (`labels` and the panes' own; playground/ui/i18n.py).

import { useEffect, useState } from "react";

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
  const panes = props.panes || {};
  return (
    <div className="grid grid-cols-2 gap-4" style={{ width: "100%" }}>
      {["a", "b"].map((side) =>
        panes[side] ? <Pane key={side} side={side} pane={panes[side]} /> : null
      )}
    </div>
  );
}
