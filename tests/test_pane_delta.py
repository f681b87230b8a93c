"""Pane redraws as deltas: whatever the chunking, the browser's state (apply_delta, the JSX's code
in Python) is the server's html at every step and the full render at the end; the incremental
renderer does not parse the frozen prefix again."""

from __future__ import annotations

import json
import random

import pytest

from playground.ui.markdown_stream import StreamingMarkdown, render_markdown
from playground.ui.pane_delta import (
    PaneStream,
    apply_delta,
    empty_client,
    simulate_turn_bytes,
    text_delta,
    utf16_len,
    wire_bytes,
)

TEXTS = {
    "fence": (
        "Here is code:\n\n```python\ndef f(x):\n\n    # not a heading\n    return x  # 中文\n\n\n```\n\n"
        "After the fence.\n\n~~~\nunclosed tilde fence\n\n# inside\n"
    ),
    "lists": (
        "- one\n- two\n- three\n\n- four makes it loose\n\n  continued item\n\n1. first\n2. second\n\n"
        "para\n- interrupts\n\ntext\n    lazy\n"
    ),
    "setext_and_headings": "Title\n---\n\npara\n#not heading\n# heading\n\nSub\n===\nmore\n***\nend",
    "table": "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n| 5 | 6 |\n\nafter\n\nx|y\n-|-\n1|2\n",
    "quote": "> quoted\nlazy continuation\n> more\n\n> second\n>\n> - item\n\nout\n",
    "refs": "See [the doc][d] and [x] and ![img][d].\n\nMore text.\n\n[d]: https://example.org/doc\n[x]: /x \"T\"\n",
    "unicode_and_script": (
        "中文回答：巴黎是法国的首都。😀👍🏽 emoji **粗体**\n\n<script>alert(1)</script> & <b>x</b>\n\n"
        "`<img src=x onerror=alert(1)>`\n\n🇫🇷 flag\r\nwindows line\r\n\r\nend\0null"
    ),
    "mixed": "# H\n\n"
    + "\n\n".join(f"Paragraph {i} with *emphasis* and a [link](https://e.org/{i})." for i in range(6))
    + "\n\n```\ncode\n```\n",
}
NO_LATE_REFS = [name for name in TEXTS if name != "refs"]


def chunks(text: str, rng: random.Random) -> list[str]:
    """The growing text at each redraw of one random chunking."""
    out, i = [], 0
    while i < len(text):
        i = min(len(text), i + rng.choice([1, 1, 2, 3, 5, 8, 13, 40]))
        out.append(text[:i])
    return out


@pytest.mark.parametrize("name", list(TEXTS))
def test_any_chunking_brings_the_browser_to_the_servers_html_and_the_full_render(name: str) -> None:
    text = TEXTS[name]
    for trial in range(60):
        rng = random.Random(trial)
        renderer = StreamingMarkdown()
        stream = PaneStream({"a": {"html": "", "status": "streaming"}})
        client = empty_client()
        for prefix in chunks(text, rng):
            html = renderer.update(prefix)
            event = stream.delta({"a": {"html": html, "status": "streaming"}})
            if event is not None:
                client = apply_delta(client, json.loads(json.dumps(event)))  # as it travels: JSON
            assert client["panes"].get("a", {}).get("html", "") == html
            if name in NO_LATE_REFS:  # without a definition after its use, every step is exact
                assert html == render_markdown(prefix), (name, trial, prefix)
        final = renderer.finish(text)
        event = stream.delta({"a": {"html": final, "status": "done", "stats": "TTFT 0.10 s"}})
        assert event is not None
        client = apply_delta(client, json.loads(json.dumps(event)))  # as it travels: JSON
        assert client["panes"]["a"]["html"] == render_markdown(text) == final
        assert (client["panes"]["a"]["status"], client["panes"]["a"]["stats"]) == ("done", "TTFT 0.10 s")


def test_late_reference_definitions_are_fixed_by_the_final_render() -> None:
    text = TEXTS["refs"]
    renderer = StreamingMarkdown()
    for prefix in chunks(text, random.Random(1)):
        renderer.update(prefix)
    # The frozen first paragraph was rendered before its definitions came: only finish() is exact.
    assert renderer.update(text) != render_markdown(text)
    assert renderer.finish(text) == render_markdown(text)
    assert '<a href="https://example.org/doc">the doc</a>' in render_markdown(text)


def test_definitions_in_frozen_blocks_serve_the_later_ones() -> None:
    text = "[d]: https://example.org\n\nfirst para\n\nsecond [link][d]\n"
    renderer = StreamingMarkdown()
    for prefix in chunks(text, random.Random(2)):
        assert renderer.update(prefix) == render_markdown(prefix)


def test_the_frozen_prefix_is_not_parsed_again() -> None:
    # A long answer of many paragraphs fed a few characters at a time: re-rendering from the
    # start would parse sum(len(prefix)) characters, quadratic in the length.
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 30 for i in range(120))
    renderer = StreamingMarkdown()
    prefixes = [text[:i] for i in range(7, len(text), 7)] + [text]
    for prefix in prefixes:
        renderer.update(prefix)
    quadratic = sum(len(p) for p in prefixes)
    assert renderer.parsed_chars < quadratic / 20, (renderer.parsed_chars, quadratic)
    assert renderer.update(text) == render_markdown(text)


def test_keep_counts_utf16_units_as_javascript_does() -> None:
    old, new = "<p>😀a</p>", "<p>😀ab</p>"
    change = text_delta(old, new)
    # The closing tag is kept from the end, not sent again; the emoji counts two units.
    assert change == [utf16_len("<p>😀a"), "b", 4] == [6, "b", 4]
    client = apply_delta(empty_client(), {"i": "s", "n": 1, "a": {"k": 0, "t": old}})
    client = apply_delta(client, {"i": "s", "n": 2, "a": change})
    assert client["panes"]["a"]["html"] == new
    # An emoji in the kept end, and a middle that replaces text.
    old, new = "<p>x</p><p>😀</p>", "<h1>x</h1><p>😀</p>"
    change = text_delta(old, new)
    assert change[2] == utf16_len("><p>😀</p>")  # "</p>" and "</h1>" share their last character
    client = apply_delta(client, {"i": "s", "n": 3, "a": {"k": 0, "t": old}})
    assert apply_delta(client, {"i": "s", "n": 4, "a": change})["panes"]["a"]["html"] == new


def test_appending_inside_closing_tags_sends_the_new_text_only() -> None:
    before, after = "<table><tr><td>ab</td></tr></table>\n", "<table><tr><td>abcd</td></tr></table>\n"
    assert text_delta(before, after) == [len("<table><tr><td>ab"), "cd", len("</td></tr></table>\n")]
    assert text_delta("", "<p>x</p>") == [0, "<p>x</p>"]  # nothing to keep at either end
    assert text_delta("<p>x</p>", "") == [0, ""]


def test_unchanged_panes_and_fields_are_left_out() -> None:
    stream = PaneStream({side: {"html": "", "status": "streaming", "statusLabel": "streaming"} for side in "ab"})
    event = stream.delta({"a": {"html": "<p>x</p>\n", "status": "streaming", "statusLabel": "streaming"},
                          "b": {"html": "", "status": "streaming", "statusLabel": "streaming"}})
    assert event is not None and set(event) == {"i", "n", "a"}
    assert event["a"] == [0, "<p>x</p>\n"]  # only the html: the change itself
    event = stream.delta({"a": {"html": "<p>x</p>\n", "status": "done", "statusLabel": "done", "stats": "s"},
                          "b": {"html": "", "status": "streaming", "statusLabel": "streaming"}})
    assert event is not None and event["a"] == {"s": "done", "l": "done", "x": "s"} and "b" not in event
    assert stream.delta({"a": {"html": "<p>x</p>\n", "status": "done", "statusLabel": "done", "stats": "s"}}) is None
    assert event["n"] == 2


def test_duplicates_are_ignored_and_a_gap_waits_for_a_full_state() -> None:
    stream = PaneStream({"a": {"html": ""}}, stream_id="abc")
    sent = [stream.delta({"a": {"html": "<p>" + "x" * i + "</p>\n", "reasoning": "r" * i}}) for i in range(1, 5)]
    events = [e for e in sent if e is not None]
    assert [e["n"] for e in events] == [1, 2, 3, 4]
    client = empty_client()
    client = apply_delta(client, events[0])
    client = apply_delta(client, events[0])  # a duplicate: no effect
    assert client["n"] == 1 and client["panes"]["a"]["html"] == "<p>x</p>\n"
    broken = apply_delta(client, events[2])  # event 2 lost
    assert broken["gap"] and broken["panes"]["a"]["html"] == "<p>x</p>\n"
    assert apply_delta(broken, events[3]) == broken  # still waiting
    full = stream.full()
    assert full["f"] == 1 and full["n"] == 5 and full["a"]["k"] == 0
    healed = apply_delta(broken, full)
    assert not healed["gap"] and healed["n"] == 5
    assert healed["panes"]["a"]["html"] == "<p>xxxx</p>\n" and healed["panes"]["a"]["reasoning"] == "rrrr"
    nxt = stream.delta({"a": {"html": "<p>xxxxx</p>\n", "reasoning": "rrrr"}})
    assert nxt is not None
    assert apply_delta(healed, nxt)["panes"]["a"]["html"] == "<p>xxxxx</p>\n"
    # A browser that mounted late (no store, events 1-4 unseen) heals the same way.
    late = apply_delta(empty_client(), nxt)
    assert late["gap"]


def test_a_streamed_turn_costs_a_few_times_its_html() -> None:
    rng = random.Random(0)
    words = "the a model answer **bold** `code` Paris capital river 中文 sea light [x](https://e.org)".split()
    texts = {side: " ".join(rng.choice(words) + ("\n\n" if rng.random() < 0.05 else "") for _ in range(260))[:1024]
             for side in "ab"}
    slow, fast = simulate_turn_bytes(texts, 20), simulate_turn_bytes(texts, 200)
    assert slow.ratio <= 3 and fast.ratio <= 2, (slow, fast)
    assert fast.events < slow.events
    # Whole props at each redraw, as element.update() did: far more.
    whole = sum(wire_bytes({"a": render_markdown(texts["a"][:i]), "b": render_markdown(texts["b"][:i])})
                for i in range(0, 1024, 40))
    assert whole > 5 * slow.delta_bytes


async def test_a_browser_asking_for_the_whole_state_gets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's side of a gap: window_message {"paneSync": streamId} -> one full-state event.
    from types import SimpleNamespace

    from playground.ui import duel_flow

    stream = PaneStream({"a": {"html": ""}}, stream_id="s9")
    stream.delta({"a": {"html": "<p>hello</p>\n", "status": "done"}})
    sent: list[tuple[str, dict]] = []

    async def emit(event: str, payload: dict) -> None:
        sent.append((event, payload))

    monkeypatch.setattr(duel_flow, "session_streams", lambda: {"s9": stream})
    monkeypatch.setattr(duel_flow.cl, "context", SimpleNamespace(emitter=SimpleNamespace(emit=emit)))
    await duel_flow.pane_sync({"paneSync": "s9"})
    await duel_flow.pane_sync({"paneSync": "unknown"})
    await duel_flow.pane_sync("not ours")
    assert [event for event, _ in sent] == ["pane_delta"]
    client = apply_delta({"n": 1, "gap": True, "panes": {}}, sent[0][1])
    assert client["panes"]["a"]["html"] == "<p>hello</p>\n" and client["panes"]["a"]["status"] == "done"
