"""`playground check` and `playground prompt-sets`, as a user runs them."""

from __future__ import annotations

import os
from pathlib import Path

from .test_cli_store import playground


def test_check_prints_match_or_no_match() -> None:
    done = playground("check", "<think>maybe 41</think>So: １,０２４", "--reference", "1024", db_url="sqlite:///unused.db")
    assert (done.returncode, done.stdout.strip()) == (0, "match")
    done = playground("check", "It is not known.", "--reference", "no", db_url="sqlite:///unused.db")
    assert (done.returncode, done.stdout.strip()) == (1, "no match")
    done = playground("check", "Paris!", "--reference", "Lyon", "--reference", "paris", db_url="sqlite:///unused.db")
    assert done.stdout.strip() == "match"


def test_prompt_sets_lists_the_sets_and_names_a_broken_file(tmp_path: Path, monkeypatch) -> None:
    done = playground("prompt-sets", db_url="sqlite:///unused.db")
    assert done.returncode == 0 and "quick-20: 20 items" in done.stdout
    (tmp_path / "bad.yaml").write_text("name: bad\nitems:\n  - {id: q1, category: c, difficulty: easy, language: en}\n")
    monkeypatch.setenv("PLAYGROUND_PROMPTS", str(tmp_path))
    assert os.environ["PLAYGROUND_PROMPTS"] == str(tmp_path)
    broken = playground("prompt-sets", db_url="sqlite:///unused.db")
    assert broken.returncode == 2 and "bad.yaml: items[0] (q1)" in broken.stderr
