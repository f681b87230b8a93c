"""The catalogue of labels (playground/ui/i18n.py): every key in English and Simplified Chinese, the
same placeholders in both, the stored words untouched, and the elements holding no English."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from playground.core.events import Done, TextDelta
from playground.core.generation import Generation
from playground.core.vocabulary import FINAL_STATUSES, TRUNCATION_POLICIES, WINNER_LABELS, WINNERS
from playground.ui.i18n import CATALOGUE, LANGUAGES, LEADERBOARD_TERMS_ZH, language_of, term, text
from playground.ui.leaderboard import markdown_of
from playground.ui.panes import PANE_LABELS, duel_props
from playground.ui.rating_panel import PANEL_LABELS, VOTE_KEYS, rating_panel_props

from .paths import PROJECT_ROOT

HAN = re.compile(r"[\u4e00-\u9fff]")


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    assert LANGUAGES == ("en", "zh")
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES), key
        assert all(entry[language].strip() for language in LANGUAGES), key
        assert placeholders(entry["en"]) == placeholders(entry["zh"]), key
        assert HAN.search(entry["zh"]), f"{key}: no Chinese in {entry['zh']!r}"
        assert not HAN.search(entry["en"]), key
    for english, chinese in LEADERBOARD_TERMS_ZH.items():
        assert HAN.search(chinese) and not HAN.search(english), english


def test_the_language_follows_the_browser_and_defaults_to_english() -> None:
    for tag in ("zh-CN", "zh", "zh-Hans-CN", "ZH_cn", "zh-TW"):
        assert language_of(tag) == "zh", tag
    for tag in ("en-US", "en", "de-DE", "", None, "x"):
        assert language_of(tag) == "en", tag


def test_text_fills_placeholders_in_either_language() -> None:
    assert text("en", "queue.empty", status="done") == "Nothing left for you in the queue. done."
    assert text("zh", "pane.label", side="A") == "模型 A"
    assert text("en", "rating.saved") == "Saved." and text("zh", "rating.saved") == "已保存。"
    assert term("zh", "model") == "模型" and term("en", "model") == "model"
    assert term("zh", "a header nobody translated") == "a header nobody translated"


def test_each_stored_word_has_a_label_and_english_labels_are_the_vocabularys() -> None:
    for winner in WINNERS:
        assert text("en", f"vote.{winner}") == WINNER_LABELS[winner]
    for policy in TRUNCATION_POLICIES:
        assert text("en", f"truncation.{policy}") == policy  # English shows the stored word
    for status in (*FINAL_STATUSES, "streaming"):
        assert text("en", f"pane.status.{status}") == status


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_rating_panel_gets_every_label_in_its_language(language: str) -> None:
    props = rating_panel_props(7, language=language)  # type: ignore[arg-type]
    assert [v["value"] for v in props["votes"]] == list(WINNERS)  # the stored words, untranslated
    assert [v["label"] for v in props["votes"]] == [text(language, f"vote.{w}") for w in WINNERS]  # type: ignore[arg-type]
    assert [v["key"] for v in props["votes"]] == ["a", "b", "t", "x"] == [VOTE_KEYS[w] for w in WINNERS]
    assert set(props["labels"]) == set(PANEL_LABELS)
    assert props["sides"] == {"a": text(language, "pane.label", side="A"),  # type: ignore[arg-type]
                              "b": text(language, "pane.label", side="B")}  # type: ignore[arg-type]
    if language == "zh":
        assert all(HAN.search(label) for label in props["labels"].values())
        assert props["sides"]["a"] == "模型 A"


def test_the_panes_are_labelled_in_chinese_and_keep_the_stored_status() -> None:
    generation = Generation("a", "m")
    generation.start(now=0.0)
    generation.feed(TextDelta("Hi"), now=0.1)
    generation.feed(Done("stop", output_tokens=1), now=0.2)
    props = duel_props({"a": generation}, blind=True, language="zh")
    pane = props["panes"]["a"]
    assert pane["label"] == "模型 A"
    assert (pane["status"], pane["statusLabel"]) == ("done", "完成")
    assert "首词元延迟" in pane["stats"]
    assert set(props["labels"]) == set(PANE_LABELS) and all(HAN.search(v) for v in props["labels"].values())
    english = duel_props({"a": generation}, blind=True)  # no Chainlit session: English
    assert english["panes"]["a"]["label"] == "Model A" and english["panes"]["a"]["statusLabel"] == "done"


def test_the_elements_hold_no_english_label_of_their_own() -> None:
    elements = PROJECT_ROOT / "public" / "elements"
    panel = Path(elements / "RatingPanel.jsx").read_text()
    for key, entry in CATALOGUE.items():
        if key.startswith(("rating.", "vote.")):
            assert entry["en"] not in panel, f"RatingPanel.jsx spells {entry['en']!r}"
    for label in ("Model ", "Accuracy", "Fluency", "Submit", "Comment ("):
        assert label not in panel
    panes = Path(elements / "SideBySide.jsx").read_text()
    for label in ("Reasoning<", ">Reading", "\"the prompt\"", "Model "):
        assert label not in panes


def test_the_leaderboard_titles_and_headers_in_chinese() -> None:
    import numpy as np

    from playground.stats.report import summarize
    from playground.stats.synthetic import simulate_battles, true_ratings
    from playground.store.report_filters import Filters
    from playground.store.report_queries import Battle, ReportData

    battles = [Battle(a, b, w) for a, b, w in  # type: ignore[arg-type]
               simulate_battles(true_ratings(3, 150), 200, np.random.default_rng(3))]
    report = summarize(ReportData(filters=Filters(), battles=battles, scores=[], timings=[]))
    english, chinese = markdown_of(report), markdown_of(report, "zh")
    assert english.startswith("## Leaderboard\n") and "intervals are 95%" in english
    assert chinese.startswith("## 排行榜\n") and "区间为 95%" in chinese
    assert "### Leaderboard (Bradley-Terry, Elo scale, 95% interval)" in english
    assert "### 排行榜（Bradley-Terry，Elo 分制，95% 区间）" in chinese
    assert "| 名次 | 模型 | 评分 |" in chinese and "model-00" in chinese  # names and numbers as they are


def test_command_buttons_are_named_in_either_language_and_read_back() -> None:
    from playground.ui.session import COMMAND_KEYS, COMMANDS, command_of, commands

    assert [text("en", f"command_name.{COMMAND_KEYS[c['id']]}") for c in COMMANDS] == [c["id"] for c in COMMANDS]
    assert [c["id"] for c in commands()] == [c["id"] for c in COMMANDS]  # no session: English
    for command in COMMAND_KEYS:
        for language in LANGUAGES:
            assert command_of(text(language, f"command_name.{COMMAND_KEYS[command]}")) == command
    assert command_of("排行榜") == "Leaderboard" and command_of(None) is None and command_of("Other") is None
