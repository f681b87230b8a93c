// Rate one turn: accuracy and fluency (1-5) for each answer, which one was better, a comment.
// `props` (injected by Chainlit): { turnId, votes, scale, saved, revealed, checks, message, error };
// `votes` ([{value, label, testid}]) and `scale` (the score values) come from the server's one
// vocabulary (playground/core/vocabulary.py), so the panel cannot send a word it does not know. The choice is
// sent with callAction("rate"); the server checks and stores it, then updates these props:
// `saved` with what is stored, `revealed` with the model names (blind mode), or `error`.
import { useState } from "react";

const votes = () => (props.votes || []).map((v) => [v.testid, v.value, v.label]);
const scale = () => props.scale || [1, 2, 3, 4, 5];

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

function ScoreRow({ side, axis, value, onChange }) {
  return (
    <div style={{ display: "flex", alignItems: "center", gap: 6, marginTop: 4 }}>
      <span style={{ width: 70, fontSize: 13 }}>{axis === "accuracy" ? "Accuracy" : "Fluency"}</span>
      {scale().map((n) => (
        <button
          key={n}
          type="button"
          data-testid={`rate-${side}-${axis}-${n}`}
          aria-pressed={value === n}
          style={choiceStyle(value === n)}
          onClick={() => onChange(n)}
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

  const complete =
    winner && ["a", "b"].every((s) => scores[s].accuracy && scores[s].fluency);
  const setScore = (side, axis) => (n) =>
    setScores({ ...scores, [side]: { ...scores[side], [axis]: n } });

  async function submit() {
    setSending(true);
    setReply("");
    try {
      const result = await callAction({
        name: "rate",
        payload: { turn_id: props.turnId, a: scores.a, b: scores.b, winner, comment },
      });
      const response = result && (result.response || result);
      if (response && response.message) setReply(response.message);
    } catch (e) {
      setReply("Not saved: " + String(e));
    } finally {
      setSending(false);
    }
  }

  return (
    <div
      data-testid="rating-panel"
      style={{ border: "1px solid rgba(127,127,127,0.35)", borderRadius: 8, padding: 12, marginTop: 8 }}
    >
      <div className="grid-cols-2 gap-4" style={{ display: "grid" }}>
        {["a", "b"].map((side) => (
          <div key={side}>
            <div style={{ fontWeight: 600 }}>
              Model {side.toUpperCase()}
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
            <ScoreRow side={side} axis="accuracy" value={scores[side].accuracy} onChange={setScore(side, "accuracy")} />
            <ScoreRow side={side} axis="fluency" value={scores[side].fluency} onChange={setScore(side, "fluency")} />
          </div>
        ))}
      </div>
      <div style={{ display: "flex", gap: 6, flexWrap: "wrap", marginTop: 10 }}>
        {votes().map(([testid, value, label]) => (
          <button
            key={value}
            type="button"
            data-testid={testid}
            aria-pressed={winner === value}
            style={choiceStyle(winner === value)}
            onClick={() => setWinner(value)}
          >
            {label}
          </button>
        ))}
      </div>
      <textarea
        data-testid="rating-comment"
        placeholder="Comment (optional)"
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
          style={{ ...choiceStyle(false), opacity: !complete || sending ? 0.5 : 1 }}
        >
          {props.saved ? "Update rating" : "Submit rating"}
        </button>
        <span data-testid="rating-status" style={{ fontSize: 13, color: props.error ? "#dc2626" : "#16a34a" }}>
          {props.error || props.message || reply}
        </span>
      </div>
    </div>
  );
}
