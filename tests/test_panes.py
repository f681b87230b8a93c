"""What the browser receives: blind props carry no model names; model output cannot inject HTML."""

from __future__ import annotations

import json

from playground.core.events import Done, ReasoningDelta, TextDelta
from playground.core.generation import Generation
from playground.ui.panes import duel_props


def finished(side: str, model: str, text: str) -> Generation:
    g = Generation(side, model)  # type: ignore[arg-type]
    g.start(now=0.0)
    g.feed(ReasoningDelta("thinking"), now=0.1)
    g.feed(TextDelta(text), now=0.2)
    g.feed(Done("stop", output_tokens=5), now=0.5)
    return g


def test_blind_props_hide_model_names() -> None:
    gens = {"a": finished("a", "secret-model-1", "hi"), "b": finished("b", "secret-model-2", "yo")}
    blind = json.dumps(duel_props(gens, blind=True))
    assert "secret-model" not in blind
    named = duel_props(gens, blind=False)
    assert named["panes"]["a"]["model"] == "secret-model-1"


def test_labels_status_stats_and_reasoning() -> None:
    props = duel_props({"a": finished("a", "m", "**bold**")}, blind=True)["panes"]["a"]
    assert props["label"] == "Model A"
    assert props["status"] == "done"
    assert props["reasoning"] == "thinking"
    assert "<strong>bold</strong>" in props["html"]
    assert props["stats"].startswith("TTFT 0.10 s") and "tok/s" in props["stats"]


def test_model_output_cannot_inject_markup() -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script> [x](javascript:alert(3))'
    html = duel_props({"a": finished("a", "m", evil)}, blind=True)["panes"]["a"]["html"]
    assert "<img" not in html and "<script" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;" in html


def test_images_in_answers_are_links_never_fetched() -> None:
    # An <img> would make the rater's browser fetch whatever URL the model wrote (a tracking
    # pixel); the image is shown as a link the rater may follow, or not.
    answer = (
        "See ![the chart](https://tracker.example/pixel.png?who=rater) and ![](https://tracker.example/empty.png)\n\n"
        "![by reference][r] and [![nested](https://tracker.example/n.png)](https://example.org/page)\n\n"
        '![x](javascript:alert(1)) ![<b>alt</b>](https://tracker.example/q.png "a title")\n\n'
        "[r]: https://tracker.example/ref.png"
    )
    html = duel_props({"a": finished("a", "m", answer)}, blind=True)["panes"]["a"]["html"]
    assert "<img" not in html
    assert '<a href="https://tracker.example/pixel.png?who=rater">the chart</a>' in html
    assert '<a href="https://tracker.example/empty.png">https://tracker.example/empty.png</a>' in html
    assert '<a href="https://tracker.example/ref.png">by reference</a>' in html
    # Inside a link, the image is its alt text (a link in a link is not valid HTML).
    assert '<a href="https://example.org/page">nested</a>' in html
    assert 'href="javascript:' not in html and "<b>" not in html and "data:" not in html


def test_prefix_cache_hits_are_shown_under_the_answer() -> None:
    from dataclasses import replace

    from playground.core.events import Done, TextDelta
    from playground.core.generation import Generation
    from playground.ui.panes import pane_stats

    g = Generation("a", "m")
    g.start(now=0.0)
    g.feed(TextDelta("x"), now=0.1)
    g.feed(Done("stop", output_tokens=1, prompt_tokens=2000, cached_tokens=1792), now=0.2)
    record = g.record()
    assert record.cached_tokens == 1792 and "1,792 prompt tokens from cache" in pane_stats(record)
    assert "from cache" not in pane_stats(replace(record, cached_tokens=None))


def test_a_streamed_element_is_sent_small_and_blind() -> None:
    # A live turn's element is sent once: labels and empty panes; the answers come as deltas.
    from playground.ui.panes import streamed_duel_props

    gens = {"a": Generation("a", "secret-model-1"), "b": Generation("b", "secret-model-2")}
    props = streamed_duel_props(gens, blind=True, stream_id="s1")
    assert props["streamId"] == "s1" and "secret-model" not in json.dumps(props)
    assert props["panes"]["a"] == {"label": "Model A", "model": None, "html": "", "reasoning": "",
                                   "status": "streaming", "statusLabel": "streaming", "stats": "", "error": None}
    assert len(json.dumps(props)) < 600
