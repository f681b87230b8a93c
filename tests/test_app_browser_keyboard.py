"""Fast rating by keyboard and the Chinese interface, in Debian's Chromium against ``chainlit run``.

Both sides are local transformers models (the two demo checkpoints), so these tests need no vLLM
server: 1-5 score the focused row, a / b / t / x vote, Enter submits, the queue's next item comes
by itself and takes the keys; a browser whose language is zh-CN gets Chainlit's Chinese texts and
ours, and rates in Chinese (the stored words stay FastChat's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .conftest import local_model_entry, write_config
from .test_app_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    OTHER_RATER,
    RATER,
    ChainlitApp,
    add_rater_with_cli,
    dump_for_diagnosis,
    finish_turn,
    open_chat,
    rows,
    run_batch_into,
)

pytestmark = [pytest.mark.browser]

THIRD_RATER = ("tess", "tess-password")


@pytest.fixture(scope="module")
def app(demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitApp]:
    tmp = tmp_path_factory.mktemp("keyboard-app")
    db_url = f"sqlite:///{tmp / 'playground.db'}"
    for rater in (RATER, OTHER_RATER, THIRD_RATER):
        add_rater_with_cli(db_url, *rater)
    defaults = {"temperature": 0.8, "max_tokens": 32}
    config = write_config(
        tmp / "app.yaml",
        [local_model_entry(demo_models_dir, name="local-a", path=str(demo_models_dir / "demo-a"), defaults=defaults),
         local_model_entry(demo_models_dir, name="local-b", defaults=defaults)],
        "local-a", "local-b", blind=True,
    )
    running = ChainlitApp(config, tmp / "chainlit.log", db_url)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def new_page(browser: Browser, locale: str = "en-US") -> Page:
    return browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale).new_page()


def leave_the_chat_input(page: Page, turn: int = 0) -> None:
    """Keys typed into the chat input are the chat's: a click on the panel's key hint (no control)
    leaves it, as a rater's click beside the buttons would."""
    page.get_by_test_id("rating-keys").nth(turn).click()


def press(page: Page, keys: str) -> None:
    for key in keys.split():
        page.keyboard.press(key)


def pressed(page: Page, turn: int = 0) -> dict[str, str]:
    """testid -> "true" for the score and vote buttons shown as chosen in one panel."""
    panel = page.get_by_test_id("rating-panel").nth(turn)
    chosen = panel.locator("button[aria-pressed=true]")
    return {chosen.nth(i).get_attribute("data-testid") or "": "true" for i in range(chosen.count())}


def test_a_turn_is_scored_voted_and_submitted_with_keys(browser: Browser, app: ChainlitApp) -> None:
    page = new_page(browser)
    try:
        open_chat(page, app.url)
        finish_turn(page, app, "Name two rivers.")
        expect(page.get_by_test_id("rating-keys")).to_contain_text("1-5")
        panel = page.get_by_test_id("rating-panel")
        expect(panel).to_have_attribute("data-active", "true")
        # Keys typed into the chat input stay there.
        page.locator("#chat-input").fill("")
        page.locator("#chat-input").press_sequentially("4a")
        assert pressed(page) == {}
        page.locator("#chat-input").fill("")
        # So do keys pressed on another control of the page (here the settings button).
        page.locator("#chat-settings-open-modal").focus()
        press(page, "5 b ArrowDown")
        assert pressed(page) == {}
        leave_the_chat_input(page)
        expect(page.get_by_test_id("row-a-accuracy")).to_have_attribute("data-focused", "true")
        # Scores move the focus on; arrows move it by hand (right: the other answer's same score).
        press(page, "4 5 ArrowUp ArrowUp ArrowRight")
        expect(page.get_by_test_id("row-b-accuracy")).to_have_attribute("data-focused", "true")
        press(page, "2 3 x")
        # Keys typed into the comment box are the comment's.
        page.get_by_test_id("rating-comment").click()
        page.keyboard.type("a 1 fine")
        expect(page.get_by_test_id("rating-comment")).to_have_value("a 1 fine")
        assert pressed(page) == {"rate-a-accuracy-4": "true", "rate-a-fluency-5": "true",
                                 "rate-b-accuracy-2": "true", "rate-b-fluency-3": "true", "vote-bothbad": "true"}
        leave_the_chat_input(page)
        press(page, "a Enter")
        expect(page.get_by_test_id("rating-status")).to_have_text("Saved.", timeout=15_000)
        expect(page.get_by_test_id("reveal-a")).to_be_visible()
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    finally:
        page.context.close()
    vote = rows(app.db_url, "SELECT v.winner, v.time_on_task_s, g.accuracy, g.fluency, g.comment, p.side "
                            "FROM votes v JOIN turns t ON t.id = v.turn_id JOIN responses p ON p.turn_id = t.id "
                            "JOIN ratings g ON g.response_id = p.id WHERE t.prompt = ? ORDER BY p.side",
                "Name two rivers.")
    assert [tuple(r)[2:] for r in vote] == [(4, 5, "a 1 fine", "a"), (2, 3, "a 1 fine", "b")]
    assert vote[0]["winner"] == "model_a"
    assert isinstance(vote[0]["time_on_task_s"], float) and 0 < vote[0]["time_on_task_s"] < 600


def test_the_queue_is_worked_by_keyboard_and_the_next_item_comes_by_itself(
    browser: Browser, app: ChainlitApp
) -> None:
    run_batch_into(app, 2)
    page = new_page(browser)
    try:
        open_chat(page, app.url, OTHER_RATER)
        page.get_by_text("Rate the queue").click()
        expect(page.get_by_text("0 of 2 rated by 2 raters")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("rating-panel")).to_have_attribute("data-active", "true")
        leave_the_chat_input(page)
        press(page, "4 4 3 3 b Enter")
        expect(page.get_by_test_id("rating-status").first).to_have_text("Saved.", timeout=15_000)
        # The next item comes by itself and takes the keys, with no click.
        expect(page.get_by_text("Calculate: 100 - 37 = ?")).to_be_visible(timeout=30_000)
        second = page.get_by_test_id("rating-panel").nth(1)
        expect(second).to_have_attribute("data-active", "true")
        expect(page.get_by_test_id("rating-panel").first).to_have_attribute("data-active", "false")
        second.scroll_into_view_if_needed()
        press(page, "5 5 1 1 t Enter")
        expect(page.get_by_test_id("rating-status").nth(1)).to_have_text("Saved.", timeout=15_000)
        expect(page.get_by_text("Nothing left for you in the queue.")).to_be_visible(timeout=30_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    finally:
        page.context.close()
    votes = rows(app.db_url, "SELECT v.winner FROM votes v JOIN raters r ON r.id = v.rater_id "
                             "JOIN turns t ON t.id = v.turn_id JOIN conversations c ON c.id = t.conversation_id "
                             "WHERE r.name = ? AND c.kind = 'batch' ORDER BY v.turn_id", OTHER_RATER[0])
    assert [v[0] for v in votes] == ["model_b", "tie"]


def test_a_chinese_browser_gets_a_chinese_interface_and_rates(browser: Browser, app: ChainlitApp) -> None:
    page = new_page(browser, locale="zh-CN")
    try:
        page.goto(app.url)
        expect(page.get_by_text("登录以访问应用")).to_be_visible(timeout=30_000)  # Chainlit's own texts
        open_chat(page, app.url, THIRD_RATER)
        expect(page.get_by_text("评分队列")).to_be_visible(timeout=30_000)  # the starters
        page.locator("#chat-settings-open-modal").click()
        expect(page.get_by_text("温度")).to_be_visible(timeout=10_000)  # the settings panel
        page.keyboard.press("Escape")
        finish_turn(page, app, "说出两条河流的名字。")
        for side in "ab":
            expect(page.get_by_test_id(f"pane-{side}-status")).to_have_text("完成")
        expect(page.get_by_text("模型 A").first).to_be_visible()
        panel = page.get_by_test_id("rating-panel")
        for label in ("准确性", "流畅性", "A 更好", "B 更好", "平局", "都不好", "提交评分"):
            expect(panel).to_contain_text(label)
        expect(page.get_by_test_id("rating-keys")).to_contain_text("快捷键")
        expect(page.get_by_test_id("rating-comment")).to_have_attribute("placeholder", "评论（可选）")
        assert "Accuracy" not in panel.inner_text() and "Model A" not in page.get_by_test_id("pane-a").inner_text()
        leave_the_chat_input(page)
        press(page, "3 4 5 2 b Enter")
        expect(page.get_by_test_id("rating-status")).to_have_text("已保存。", timeout=15_000)
        expect(panel).to_contain_text("更新评分")
        page.screenshot(path=str(app.log.with_name("chinese.png")))
        # The command buttons are named in Chinese, and work.
        page.locator("#command-排行榜").click()
        page.locator("#chat-input").fill("显示")
        page.locator("#chat-submit").click()
        expect(page.get_by_text("区间为 95%")).to_be_visible(timeout=60_000)
    except AssertionError:
        dump_for_diagnosis(page, app)
        raise
    finally:
        page.context.close()
    vote = rows(app.db_url, "SELECT v.winner FROM votes v JOIN turns t ON t.id = v.turn_id WHERE t.prompt = ?",
                "说出两条河流的名字。")
    assert [v[0] for v in vote] == ["model_b"]  # the stored word, whatever the language
