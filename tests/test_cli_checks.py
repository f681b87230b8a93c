"""`playground check` and `playground prompt-sets`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_cli_store import playground


def test_check_prints_match_or_no_match() -> None:
    done = playground("check", "<think>maybe 41</think>So: １,０２４", "--reference", "1024", db_url="sqlite:///unused.db")
    assert (done.returncode, done.stdout.strip()) == (0, "match")
    done = playground("check", "It is not known.", "--reference", "no", db_url="sqlite:///unused.db")
    assert (done.returncode, done.stdout.strip()) == (1, "no match")
    done = playground("check", "Paris!", "--reference", "Lyon", "--reference", "paris", db_url="sqlite:///unused.db")
    assert done.stdout.strip() == "match"
    done = playground("check", "所以答案等于1024。", "--reference", "1024", db_url="sqlite:///unused.db")
    assert (done.returncode, done.stdout.strip()) == (0, "match")


def test_prompt_sets_lists_the_sets_and_names_a_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = playground("prompt-sets", db_url="sqlite:///unused.db")
    assert done.returncode == 0 and "quick-20: 20 items" in done.stdout
    # PLAYGROUND_PROMPTS names another folder: its sets are listed instead of the shipped ones.
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nitems:\n  - {id: q1, category: trivia, difficulty: easy, language: en, prompt: Say hello.}\n"
    )
    monkeypatch.setenv("PLAYGROUND_PROMPTS", str(tmp_path))
    mine = playground("prompt-sets", db_url="sqlite:///unused.db")
    assert (mine.returncode, mine.stdout.strip()) == (0, "mine: 1 items (trivia)"), mine.stderr
    (tmp_path / "bad.yaml").write_text("name: bad\nitems:\n  - {id: q1, category: c, difficulty: easy, language: en}\n")
    broken = playground("prompt-sets", db_url="sqlite:///unused.db")
    assert broken.returncode == 2 and "bad.yaml: items[0] (q1)" in broken.stderr
