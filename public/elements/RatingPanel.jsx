// Rate one turn: accuracy and fluency (1-5) for each answer, which one was better, a comment.
// `props` (injected by Chainlit): { turnId, votes, scale, sides, labels, saved, revealed, checks, message,
// error }; `votes` ([{value, label, testid, key}]) and `scale` (the score values) come from the server's
// one vocabulary (playground/core/vocabulary.py), so the panel cannot send a word it does not know; every
// label (`sides`, `labels`, the votes' labels) comes in the rater's language (playground/ui/i18n.py), so
// this file holds no English. The choice is sent with callAction("rate"); the server checks and stores
// it, then updates these props: `saved` with what is stored, `revealed` with the model names (blind
// mode), or `error`.
//
// Keyboard: of the panels on the page, the one last clicked (else the newest) takes the keys while it is
// in view. A focus
// moves over its four scores (arrow keys, or a click on a row); 1-5 set the focused score and move the
// focus on; each vote's key (a / b / t / x) votes; Enter submits. Keys typed into a text field (the
// comment, the chat input) or pressed on another control of the page are left alone. The panel sends `time_on_task_s`: seconds since it was shown.
import { useEffect, useRef, useState } from "react";

const votes = () => props.votes || [];
const scale = () => props.scale || [1, 2, 3, 4, 5];
const label = (key) => (props.labels || {})[key] || "";
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
// The four scores in focus order: left answer's, then right answer's.
const ROWS = [["a", "accuracy"], ["a", "fluency"], ["b", "accuracy"], ["b", "fluency"]];

// Shared by every panel of the page (each element runs this file on its own): which panel was last
// clicked, and when each turn's panel was first shown (kept across the element's re-mounts).
const shared = (window.__playgroundRating = window.__playgroundRating || { chosen: null, shownAt: {} });

function activePanel() {
  if (shared.chosen && shared.chosen.isConnected) return shared.chosen;
  const all = document.querySelectorAll('[data-testid="rating-panel"]');
  return all.length ? all[all.length - 1] : null;
}

function choose(element) {
  shared.chosen = element;
  window.dispatchEvent(new Event("playground-rating-active"));
}

// Keys go to a panel the rater can see: with the active one scrolled away, they are the page's again.
function inView(element) {
  const box = element.getBoundingClientRect();
  return box.bottom > 0 && box.top < window.innerHeight;
}

// A key is the panels' when pressed on the page itself or in a rating panel, never when typed into a
// text field; any other control with the focus (a button, a dialog's slider, a menu, a link) keeps its keys.
const CONTROLS = 'button, a[href], [role="slider"], [role="combobox"], [role="listbox"], [role="option"], '
  + '[role="menu"], [role="menuitem"], [role="tab"], [role="radio"], [role="checkbox"], [role="switch"], '
  + '[role="spinbutton"], [role="dialog"]';

function keyIsOurs(target) {
  if (!target || !target.tagName) return true;
  const tag = target.tagName.toLowerCase();
  if (tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable) return false;
  if (target.closest('[data-testid="rating-panel"]')) return true;
  return !target.closest(CONTROLS);
}

function choiceStyle(selected) {
  return {
    minWidth: 32,
    padding: "2px 8px",
    borderRadius: 6,
    cursor: "pointer",
    border: selected ? "2px solid #2563eb" : "1px solid rgba(127,127,127,0.5)",
    background: selected ? "rgba(37,99,235,0.15)" : "transparent",
    fontWeight: selected ? 600 : 400,
  };
}

const keyStyle = { fontSize: 11, opacity: 0.6, marginLeft: 4, fontFamily: "monospace" };

function ScoreRow({ side, axis, value, focused, onChange, onFocus }) {
  return (
    <div
      data-testid={`row-${side}-${axis}`}
      data-focused={focused ? "true" : "false"}
      onClick={onFocus}
      style={{
        display: "flex", alignItems: "center", gap: 6, marginTop: 4, padding: "2px 4px", borderRadius: 6,
        outline: focused ? "2px dashed rgba(37,99,235,0.7)" : "none",
      }}
    >
      <span style={{ width: 70, fontSize: 13 }}>{label(axis)}</span>
      {scale().map((n) => (
        <button
          key={n}
          type="button"
          data-testid={`rate-${side}-${axis}-${n}`}
          aria-pressed={value === n}
          style={choiceStyle(value === n)}
          onClick={(event) => {
            event.stopPropagation();  // the row's own click would take the focus back to it
            onChange(n);
          }}
        >
          {n}
        </button>
      ))}
    </div>
  );
}

export default function RatingPanel() {
  const saved = props.saved || {};
  const [scores, setScores] = useState({
    a: { accuracy: saved.a?.accuracy ?? null, fluency: saved.a?.fluency ?? null },
    b: { accuracy: saved.b?.accuracy ?? null, fluency: saved.b?.fluency ?? null },
  });
  const [winner, setWinner] = useState(saved.winner ?? null);
  const [comment, setComment] = useState(saved.comment ?? "");
  const [sending, setSending] = useState(false);
  const [reply, setReply] = useState("");
  const [focus, setFocus] = useState(0);
  const [active, setActive] = useState(false);
  const panel = useRef(null);
  const onKey = useRef(null);

  if (!(props.turnId in shared.shownAt)) shared.shownAt[props.turnId] = Date.now();

  const complete =
    winner && ["a", "b"].every((s) => scores[s].accuracy && scores[s].fluency);
  const setScore = (side, axis) => (n) =>
    setScores((now) => ({ ...now, [side]: { ...now[side], [axis]: n } }));

  async function submit() {
    setSending(true);
    setReply("");
    const seconds = (Date.now() - shared.shownAt[props.turnId]) / 1000;
    try {
      const result = await callAction({
        name: "rate",
        payload: {
          turn_id: props.turnId, a: scores.a, b: scores.b, winner, comment,
          time_on_task_s: Math.round(seconds * 1000) / 1000,
        },
      });
      const response = result && (result.response || result);
      if (response && response.message) setReply(response.message);
    } catch (e) {
      setReply(fill(label("not_saved"), { error: String(e) }));
    } finally {
      setSending(false);
    }
  }

  // The latest state for the key handler (registered once per mount).
  onKey.current = (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!keyIsOurs(event.target) || activePanel() !== panel.current || !inView(panel.current)) return;
    const key = event.key;
    if (/^[0-9]$/.test(key) && scale().includes(Number(key))) {
      const [side, axis] = ROWS[focus];
      setScore(side, axis)(Number(key));
      setFocus(Math.min(focus + 1, ROWS.length - 1));
    } else if (key === "ArrowDown") {
      setFocus(Math.min(focus + 1, ROWS.length - 1));
    } else if (key === "ArrowUp") {
      setFocus(Math.max(focus - 1, 0));
    } else if (key === "ArrowRight" || key === "ArrowLeft") {
      setFocus(key === "ArrowRight" ? (focus % 2) + 2 : focus % 2);  // the same score of the other answer
    } else if (key === "Enter") {  // also on a focused button of the panel: submit, not click it
      if (complete && !sending) submit();
    } else {
      const vote = votes().find((v) => v.key && v.key === key.toLowerCase());
      if (!vote) return;
      setWinner(vote.value);
    }
    event.preventDefault();  // the key was the panel's: no other control, no chat input gets it
    event.stopPropagation();
  };

  useEffect(() => {
    const update = () => setActive(activePanel() === panel.current);
    const listener = (event) => onKey.current && onKey.current(event);
    window.addEventListener("playground-rating-active", update);
    window.addEventListener("keydown", listener, true);
    choose(null);  // a new panel takes the keys (until another one is clicked)
    return () => {
      window.removeEventListener("playground-rating-active", update);
      window.removeEventListener("keydown", listener, true);
      if (shared.chosen === panel.current) choose(null);
    };
  }, []);

  return (
    <div
      ref={panel}
      data-testid="rating-panel"
      data-active={active ? "true" : "false"}
      tabIndex={-1}
      onPointerDown={(event) => {
        if (!active) choose(panel.current);
        // A click beside the panel's controls leaves the chat input (or any control) for the panel.
        if (!event.target.closest("button, textarea")) panel.current.focus({ preventScroll: true });
      }}
      style={{
        outline: "none",
        border: active ? "1px solid rgba(37,99,235,0.6)" : "1px solid rgba(127,127,127,0.35)",
        borderRadius: 8, padding: 12, marginTop: 8,
      }}
    >
      <div className="grid-cols-2 gap-4" style={{ display: "grid" }}>
        {["a", "b"].map((side) => (
          <div key={side}>
            <div style={{ fontWeight: 600 }}>
              {(props.sides || {})[side]}
              {props.revealed ? (
                <span data-testid={`reveal-${side}`} style={{ fontWeight: 400, marginLeft: 6 }}>
                  {props.revealed[side]}
                </span>
              ) : null}
            </div>
            {props.revealed && props.checks && props.checks[side] ? (
              // The automatic check, shown once the rater's own judgement is stored.
              <div data-testid={`check-${side}`} style={{ fontSize: 12, opacity: 0.8, marginTop: 2 }}>
                {props.checks[side]}
              </div>
            ) : null}
            {["accuracy", "fluency"].map((axis) => {
              const row = ROWS.findIndex(([s, a]) => s === side && a === axis);
              return (
                <ScoreRow
                  key={axis}
                  side={side}
                  axis={axis}
                  value={scores[side][axis]}
                  focused={active && focus === row}
                  onChange={(n) => {
                    setScore(side, axis)(n);
                    setFocus(Math.min(row + 1, ROWS.length - 1));
                  }}
                  onFocus={() => setFocus(row)}
                />
              );
            })}
          </div>
        ))}
      </div>
      <div style={{ display: "flex", gap: 6, flexWrap: "wrap", marginTop: 10 }}>
        {votes().map((v) => (
          <button
            key={v.value}
            type="button"
            data-testid={v.testid}
            aria-pressed={winner === v.value}
            aria-keyshortcuts={v.key}
            style={choiceStyle(winner === v.value)}
            onClick={() => setWinner(v.value)}
          >
            {v.label}
            {v.key ? <span style={keyStyle}>{v.key.toUpperCase()}</span> : null}
          </button>
        ))}
      </div>
      <textarea
        data-testid="rating-comment"
        placeholder={label("comment")}
        value={comment}
        maxLength={5000}
        onChange={(e) => setComment(e.target.value)}
        style={{ width: "100%", marginTop: 8, minHeight: 48, padding: 6, borderRadius: 6, border: "1px solid rgba(127,127,127,0.5)", background: "transparent" }}
      />
      <div style={{ display: "flex", alignItems: "center", gap: 10, marginTop: 6 }}>
        <button
          type="button"
          data-testid="rating-submit"
          disabled={!complete || sending}
          onClick={submit}
          aria-keyshortcuts="Enter"
          style={{ ...choiceStyle(false), opacity: !complete || sending ? 0.5 : 1 }}
        >
          {props.saved ? label("update") : label("submit")}
        </button>
        <span data-testid="rating-status" style={{ fontSize: 13, color: props.error ? "#dc2626" : "#16a34a" }}>
          {props.error || props.message || reply}
        </span>
      </div>
      <div data-testid="rating-keys" style={{ fontSize: 12, opacity: active ? 0.75 : 0.45, marginTop: 6 }}>
        {label("hint")}
      </div>
    </div>
  );
}
