"""Needle in a haystack: exact-length haystacks per tokenizer (fake and the real demo one), the
grid spec, sweeps on fake backends (stored cells, resume, failures, cuts by policy, a side with
another tokenizer), the heat maps, a tiny sweep on the real demo backends and the command."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from playground.arena.duel import TurnSettings
from playground.arena.needle import run_needle
from playground.backends.base import Backend
from playground.backends.fake import MESSAGE_OVERHEAD, FakeBackend, words_script
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, parse_config
from playground.core.events import BackendEvent, ChatMessage, SamplingParams
from playground.evalsets.needle import (
    QUESTION,
    GridCell,
    HaystackSource,
    NeedleGridSpec,
    NeedleSpecError,
    build_haystack,
    length_label,
    parse_cell_id,
    parse_depths,
    parse_lengths,
)
from playground.output.needle_plots import needle_heat_maps, needle_page
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.needle_queries import NeedleCell, NeedleGrid, done_cells, needle_grid
from playground.store.tables import Conversation, Document, Response, Turn, TurnDocument

from .conftest import local_model_entry
from .paths import PROJECT_ROOT

PNG = b"\x89PNG\r\n\x1a\n"
DOCUMENT = re.compile(r'<document name="[^"]*">\n(.*)\n</document>', re.DOTALL)


# --- test doubles: fake backends that read their prompt --------------------------------------

@dataclass
class Reader(FakeBackend):
    """Answers the vault code when its prompt still holds the needle (a perfect reader), so that a
    hit or a miss says what reached the model."""

    def stream(self, messages: list[ChatMessage], params: SamplingParams) -> AsyncGenerator[BackendEvent, None]:
        found = re.search(r"vault code is (\d+)", messages[-1]["content"])
        self.scripts = [words_script(found.group(1) if found else "I cannot find it.")]
        return super().stream(messages, params)


def _pieces(word: str) -> list[str]:
    return [word[:4]] + ["##" + word[i:i + 4] for i in range(4, len(word), 4)]


@dataclass
class PiecesReader(Reader):
    """Another tokenizer: pieces of at most four characters ("village" is "vill" "##age")."""

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        return sum([MESSAGE_OVERHEAD + len(await self.encode(m["content"])) for m in messages])

    async def encode(self, text: str) -> list[int]:
        self._check_counts()
        return [self._id(piece) for word in text.split() for piece in _pieces(word)]

    async def decode(self, tokens: list[int]) -> str:
        words: list[str] = []
        for token in tokens:
            piece = self.vocabulary[token]
            if piece.startswith("##") and words:
                words[-1] += piece[2:]
            else:
                words.append(piece.removeprefix("##"))
        return " ".join(words)


def fake_config(**left: object) -> PlaygroundConfig:
    # Real config entries whose backends the tests swap for fakes (the URLs are never called).
    entry = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
             "defaults": {"temperature": 0.0, "max_tokens": 16}}
    return parse_config({"models": [{"name": "left", **entry, **left}, {"name": "right", **entry}],
                         "arena": {"model_a": "left", "model_b": "right"}}, "fake.yaml")


def fake_pool(config: PlaygroundConfig, left: FakeBackend, right: FakeBackend) -> BackendPool:
    pool = BackendPool(config)
    pool.register("left", left)
    pool.register("right", right)
    return pool


MODELS = ("left", "right")


# --- the grid spec ---------------------------------------------------------------------------

def test_lengths_are_token_counts_with_k_and_m() -> None:
    assert parse_lengths("4k,16k,64k") == (4096, 16384, 65536)
    assert parse_lengths("1m, 512, 1.5K") == (512, 1536, 1048576)
    assert parse_depths("0,25,50%,75,100") == (0, 25, 50, 75, 100)
    assert [length_label(n) for n in (512, 1536, 4096, 131072, 1048576)] == ["512", "1536", "4K", "128K", "1M"]
    spec = NeedleGridSpec.parse("1k,512", "100,0", 2)
    assert [cell.item_id for cell in spec.cells()][:3] == ["L512-D0-R0", "L512-D0-R1", "L512-D100-R0"]
    assert len(spec.cells()) == 8


@pytest.mark.parametrize(("lengths", "message"), [
    ("4x", "--lengths: '4x' is not a length"),
    ("", "--lengths: give at least one value"),
    ("4k,,8k", "an empty value"),
    ("1.3k", "not a whole number of tokens"),
    ("10", "is 10 tokens; a length is from 64"),
    ("8m", "a length is from 64 to 4,194,304"),
    ("4k,4096", "'4096' (4,096 tokens) is given twice"),
    ("-4k", "is not a length"),
])
def test_bad_lengths_are_refused_with_what_to_write(lengths: str, message: str) -> None:
    with pytest.raises(NeedleSpecError, match=re.escape(message)):
        parse_lengths(lengths)


@pytest.mark.parametrize(("depths", "message"), [
    ("0,101", "'101' is not a depth (whole percentages from 0"),
    ("-5", "'-5' is not a depth"),
    ("12.5", "'12.5' is not a depth"),
    ("50,50%", "'50%' is given twice"),
])
def test_bad_depths_are_refused(depths: str, message: str) -> None:
    with pytest.raises(NeedleSpecError, match=re.escape(message)):
        parse_depths(depths)


def test_a_cell_is_named_and_checked_by_its_code() -> None:
    cell = GridCell(4096, 50, 0)
    assert cell.item_id == "L4096-D50-R0" and cell.category == "needle-4K"
    assert re.fullmatch(r"The vault code is \d{4}\.", cell.needle)
    assert cell.code == GridCell(4096, 50, 0).code  # the same in every run
    assert len({GridCell(4096, d, r).code for d in (0, 25, 50, 75, 100) for r in range(4)}) > 15
    item = cell.prompt_item()
    assert (item.prompt, item.references) == (QUESTION, [cell.code])
    assert parse_cell_id("L4096-D50-R0") == cell
    assert parse_cell_id("L4096-D50-R2-Habcdef01") == GridCell(4096, 50, 2, "abcdef01")
    assert parse_cell_id("math_01") is None


# --- exact lengths ---------------------------------------------------------------------------

@pytest.mark.parametrize("length", [64, 100, 512, 1536, 4096])
@pytest.mark.parametrize("depth", [0, 10, 50, 75, 100])
async def test_a_haystack_has_exactly_the_length_in_words_of_the_fake(length: int, depth: int) -> None:
    backend = FakeBackend("f")
    cell = GridCell(length, depth, 0)
    built = await build_haystack(backend, length, cell.needle, depth)
    assert len(await backend.encode(built.text)) == built.tokens == length
    words = built.text.split()
    assert built.text.count(cell.needle) == 1
    before = words.index("vault") - 1  # the fake's tokens are words: the needle's position, counted again
    assert built.needle_at == before
    filler = length - built.needle_tokens
    # At the sentence boundary nearest the depth (sentences have at most 16 words).
    assert abs(before - depth / 100 * filler) <= 16
    if depth == 0:
        assert built.text.startswith(cell.needle)
    elif depth == 100:
        assert built.text.endswith(cell.needle)
    else:
        assert before == 0 or words[before - 1].endswith(".")  # after a full stop, not inside a sentence


@pytest.fixture(scope="module")
def demo_tokenizer(demo_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    """The real local demo model's backend: only its tokenizer is loaded to count."""
    config = parse_config({"models": [local_model_entry(demo_models_dir)],
                           "arena": {"model_a": "local-demo", "model_b": "local-demo"}},
                          tmp_path_factory.mktemp("tok") / "local.yaml")
    return BackendPool(config).get("local-demo")


@pytest.mark.parametrize("length", [64, 512, 1536, 4096])
@pytest.mark.parametrize("depth", [0, 25, 50, 75, 100])
async def test_a_haystack_has_exactly_the_length_in_the_demo_tokenizer(
    demo_tokenizer: Backend, length: int, depth: int,
) -> None:
    cell = GridCell(length, depth, 1)
    built = await build_haystack(demo_tokenizer, length, cell.needle, depth, seed=1)
    assert len(await demo_tokenizer.encode(built.text)) == built.tokens == length
    assert built.text.count(cell.needle) == 1
    at = built.text.index(cell.needle)
    assert built.needle_at == len(await demo_tokenizer.encode(built.text[:at].strip()))
    if depth == 0:
        assert at == 0
    elif depth == 100:
        assert built.text.endswith(cell.needle)
    else:
        assert at == 0 or built.text[:at].rstrip().endswith(".")  # a sentence boundary
        if length >= 1536:  # a sentence is some 40 tokens of this small vocabulary: a few % of the length
            assert abs(built.depth - depth / 100) <= 0.04


async def test_a_users_document_is_the_filler_repeated_to_the_length(demo_tokenizer: Backend) -> None:
    text = ("Harbour records list every ship that came in. Most came in summer!\n\n"
            "# Winter\n\nIn winter the river froze? Only the ferry ran.")
    source = HaystackSource("harbour.md", text, "0123456789abcdef" * 4)
    assert source.key == "01234567"
    for backend in (FakeBackend("f"), demo_tokenizer):
        cell = GridCell(700, 50, 0, source.key)
        built = await build_haystack(backend, 700, cell.needle, 50, source)
        assert len(await backend.encode(built.text)) == 700
        assert built.text.startswith("Harbour records") and built.text.count("Harbour records") > 3
        before = built.text[:built.text.index(cell.needle)].rstrip()
        assert before[-1] in ".!?" or before.endswith("Winter")  # a sentence end or a heading
        assert abs(built.depth - 0.5) < 0.1


# --- sweeps on fake backends -----------------------------------------------------------------

async def test_a_sweep_stores_every_cell_and_a_second_run_skips_them(db: Database) -> None:
    config = fake_config()
    pool = fake_pool(config, Reader("left"), Reader("right"))
    grid = NeedleGridSpec((64, 128), (0, 50, 100), repeats=2)
    seen: list[str] = []
    first = await run_needle(db, config, pool, MODELS, grid, on_cell=lambda o: seen.append(o.item_id))
    assert (first.total, first.done, first.skipped, first.failed) == (12, 12, 0, [])
    assert sorted(seen) == sorted(cell.item_id for cell in grid.cells())
    assert all(o.found == {"left": True, "right": True} for o in first.outcomes)
    for outcome in first.outcomes:  # each side's haystack has the cell's length in its tokens
        length = parse_cell_id(outcome.item_id).length  # type: ignore[union-attr]
        assert outcome.tokens == {"left": length, "right": length}
    assert await done_cells(db, MODELS) == {cell.item_id for cell in grid.cells()}
    async with db.sessions() as session:
        turns = (await session.exec(select(Turn, Conversation).join(
            Conversation, col(Conversation.id) == col(Turn.conversation_id)))).all()
        responses = (await session.exec(select(Response))).all()
        links = (await session.exec(select(TurnDocument))).all()
    assert len(turns) == 12
    assert {(t.prompt_set, c.kind, c.model_a, c.model_b) for t, c in turns} == {("needle", "needle", "left", "right")}
    assert {t.category for t, _ in turns} == {"needle-64", "needle-128"}
    assert {r.reference_match for r in responses} == {True} and len(responses) == 24
    assert all(r.check_basis and r.check_basis["references"] == [parse_cell_id(t.item_id or "").code]  # type: ignore[union-attr]
               for r in responses for t, _ in turns if t.id == r.turn_id)
    assert len(links) == 12  # the fakes tokenize alike: one shared document per cell

    again = await run_needle(db, config, pool, MODELS, grid)
    assert (again.total, again.done, again.skipped) == (12, 0, 12)
    reversed_pair = await run_needle(db, config, pool, ("right", "left"), grid)
    assert reversed_pair.skipped == 12  # the same two models, either on the left

    result = await needle_grid(db, MODELS)
    assert (result.lengths, result.depths) == ((64, 128), (0, 50, 100))
    for model in MODELS:
        assert {(c.hits, c.n, c.errors, c.cut) for c in result.cells[model].values()} == {(2, 2, 0, 0)}
    assert result.cell("left", 64, 50).text == "2/2"
    assert (await needle_grid(db, MODELS, haystack="01234567")).empty  # another haystack: nothing yet
    assert (await needle_grid(db, ("left", "someone-else"))).empty


async def test_a_failing_cell_is_reported_stored_and_retried(db: Database) -> None:
    config = fake_config()
    right = Reader("right", window=200)  # 400 tokens of document do not fit, and policy refuse sends nothing
    pool = fake_pool(config, Reader("left"), right)
    grid = NeedleGridSpec((64, 400), (0, 100))
    first = await run_needle(db, config, pool, MODELS, grid, policy="refuse")
    assert first.done == 2 and sorted(o.item_id for o in first.failed) == ["L400-D0-R0", "L400-D100-R0"]
    problem = first.failed[0].problems
    assert len(problem) == 1 and problem[0].startswith("side b (right): Not sent: the prompt needs")
    assert "\n" not in problem[0]
    result = await needle_grid(db, MODELS)
    assert result.cell("right", 400, 0) == NeedleCell(400, 0, hits=0, n=0, errors=1, cut=0)
    assert result.cell("right", 400, 0).text == "- (1 failed)"
    assert result.cell("left", 400, 0).n == 1  # the side that answered counts

    right.window = 4096
    second = await run_needle(db, config, pool, MODELS, grid, policy="refuse")
    assert (second.skipped, second.done, second.failed) == (2, 2, [])
    assert (await needle_grid(db, MODELS)).cell("right", 400, 100).text == "1/1"  # the retry replaces the error


async def test_a_document_over_the_window_is_cut_by_the_policy_and_the_needle_may_go(db: Database) -> None:
    config = fake_config(truncation="middle")
    pool = fake_pool(config, Reader("left", window=300), Reader("right"))
    outcome = await run_needle(db, config, pool, MODELS, NeedleGridSpec((512,), (0, 50)))
    assert outcome.failed == []
    found = {o.item_id: o.found for o in outcome.outcomes}
    # middle keeps both ends: the needle at the start survives, the one in the middle is cut out.
    assert found == {"L512-D0-R0": {"left": True, "right": True}, "L512-D50-R0": {"left": False, "right": True}}
    async with db.sessions() as session:
        left = (await session.exec(select(Response).where(col(Response.model) == "left"))).all()
    assert all(r.context_policy == "middle" and r.context_window == 300 for r in left)
    assert all(r.prompt_tokens_sent is not None and r.prompt_tokens_full is not None
               and r.prompt_tokens_sent < r.prompt_tokens_full and "policy middle" in (r.context_note or "")
               for r in left)
    grid = await needle_grid(db, MODELS)
    assert grid.cell("left", 512, 50).text == "0/1*" and grid.cell("right", 512, 50).text == "1/1"


async def test_each_side_gets_a_haystack_of_the_length_in_its_own_tokenizer(db: Database) -> None:
    config = fake_config()
    left, right = Reader("left"), PiecesReader("right")
    pool = fake_pool(config, left, right)
    result = await run_needle(db, config, pool, MODELS, NeedleGridSpec((300,), (50,)))
    assert result.failed == [] and result.outcomes[0].found == {"left": True, "right": True}
    sent = {name: DOCUMENT.search(backend.requests[0][0][-1]["content"]) for name, backend in
            (("left", left), ("right", right))}
    assert sent["left"] and sent["right"] and sent["left"].group(1) != sent["right"].group(1)
    assert len(await left.encode(sent["left"].group(1))) == 300
    assert len(await right.encode(sent["right"].group(1))) == 300
    assert len(await left.encode(sent["right"].group(1))) < 300  # the pieces' 300 are fewer words
    async with db.sessions() as session:
        turn = (await session.exec(select(Turn))).one()
        documents = (await session.exec(select(Document))).all()
        links = (await session.exec(select(TurnDocument))).all()
        responses = {r.side: r for r in (await session.exec(select(Response))).all()}
    assert {d.text for d in documents} == {sent["left"].group(1), sent["right"].group(1)}
    by_text = {d.text: d.id for d in documents}
    assert turn.settings["side_documents"] == {"a": [by_text[sent["left"].group(1)]],
                                               "b": [by_text[sent["right"].group(1)]]}
    assert links == []  # neither document went to both sides
    assert responses["a"].prompt_tokens_full != responses["b"].prompt_tokens_full
    assert all((r.prompt_tokens_full or 0) > 300 for r in responses.values())  # the document plus the question


async def test_a_user_haystack_is_kept_apart_from_the_generated_one(db: Database) -> None:
    config = fake_config()
    pool = fake_pool(config, Reader("left"), Reader("right"))
    source = HaystackSource("notes.txt", "The ferry runs at dawn. It stops at noon.", "f" * 64)
    grid = NeedleGridSpec((64,), (50,))
    await run_needle(db, config, pool, MODELS, grid)
    mine = await run_needle(db, config, pool, MODELS, grid, source=source)
    assert (mine.skipped, mine.done) == (0, 1)  # the generated cell does not count for this haystack
    assert await done_cells(db, MODELS) == {"L64-D50-R0", "L64-D50-R0-Hffffffff"}
    assert (await needle_grid(db, MODELS, source.key)).cell("left", 64, 50).text == "1/1"
    async with db.sessions() as session:
        names = set((await session.exec(select(Document.name))).all())
    assert names == {"haystack (64 tokens)", "haystack from notes.txt (64 tokens)"}


# --- heat maps -------------------------------------------------------------------------------

async def test_heat_maps_are_drawn_for_results_and_not_without(db: Database) -> None:
    assert needle_heat_maps(await needle_grid(db, MODELS)) is None
    assert needle_heat_maps(NeedleGrid(MODELS, (), ())) is None
    config = fake_config()
    pool = fake_pool(config, Reader("left", window=200), Reader("right"))
    await run_needle(db, config, pool, MODELS, NeedleGridSpec((64, 256), (0, 50, 100)))
    grid = await needle_grid(db, MODELS)
    png = needle_heat_maps(grid)
    assert png is not None and png.startswith(PNG)
    one = needle_heat_maps(NeedleGrid(("left",), grid.lengths, grid.depths, {"left": grid.cells["left"]}))
    assert one is not None and len(one) < len(png)  # two maps side by side draw wider than one
    page = needle_page(grid)
    assert page.count("data:image/png;base64,") == 1 and "<h2>left</h2>" in page and "0/1*" in page


# --- the real demo backends ------------------------------------------------------------------

async def test_a_tiny_sweep_on_the_demo_backends(duel_config: PlaygroundConfig, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    await upgrade(db)
    pool = BackendPool(duel_config)
    models = ("vllm-demo", "local-demo")
    try:
        result = await run_needle(db, duel_config, pool, models, NeedleGridSpec((512, 1536), (0, 100)),
                                  settings=TurnSettings(max_tokens=8))
        assert (result.total, result.done, result.failed) == (4, 4, [])
        for outcome in result.outcomes:  # each side's haystack, counted by its own tokenizer when built
            length = parse_cell_id(outcome.item_id).length  # type: ignore[union-attr]
            assert outcome.tokens == {"vllm-demo": length, "local-demo": length}
        async with db.sessions() as session:
            rows = (await session.exec(select(Turn, Response).join(
                Response, col(Response.turn_id) == col(Turn.id)))).all()
            turns = (await session.exec(select(Turn))).all()
        assert len(rows) == 8  # 4 cells x 2 models
        around: dict[str, set[int]] = {}
        for turn, response in rows:
            length = parse_cell_id(turn.item_id or "").length  # type: ignore[union-attr]
            assert response.status == "done" and response.reference_match is not None
            assert response.check_basis is not None and response.context_window == 2048
            assert response.prompt_tokens_full is not None and response.prompt_tokens_full > length
            assert response.prompt_tokens_sent == response.prompt_tokens_full  # it fit: nothing cut
            around.setdefault(response.model, set()).add(response.prompt_tokens_full - length)
        # The whole prompt is the document's exact length plus the same question, tags and template
        # in every cell (the document's name, with its length, may take a token more or less).
        assert all(max(extra) - min(extra) <= 3 and max(extra) < 150 for extra in around.values()), around
        for turn in turns:
            length = parse_cell_id(turn.item_id or "").length  # type: ignore[union-attr]
            sides = turn.settings.get("side_documents")
            texts = ([d.text for d in await _documents(db, turn)] if sides is None
                     else [await _document_text(db, sides[s][0]) for s in ("a", "b")])
            backends = [pool.get("vllm-demo"), pool.get("local-demo")]
            for backend, text in zip(backends, texts * 2 if len(texts) == 1 else texts, strict=True):
                assert len(await backend.encode(text)) == length  # counted by each side's own tokenizer
        grid = await needle_grid(db, models)
        assert grid.lengths == (512, 1536) and grid.depths == (0, 100)
        assert all(grid.cell(m, n, d).n == 1 for m in models for n in (512, 1536) for d in (0, 100))
        assert needle_heat_maps(grid) is not None
    finally:
        await db.dispose()


async def _documents(db: Database, turn: Turn) -> list[Document]:
    async with db.sessions() as session:
        return list((await session.exec(select(Document).join(
            TurnDocument, col(TurnDocument.document_id) == col(Document.id)).where(
            col(TurnDocument.turn_id) == turn.id))).all())


async def _document_text(db: Database, document_id: str) -> str:
    async with db.sessions() as session:
        document = await session.get(Document, document_id)
    assert document is not None
    return document.text


def test_the_command_end_to_end(duel_config: PlaygroundConfig, tmp_path: Path) -> None:
    assert duel_config.source is not None
    db_file = tmp_path / "cli.db"
    env = dict(os.environ, PLAYGROUND_DATABASE_URL=f"sqlite:///{db_file}", HF_HUB_OFFLINE="1", COLUMNS="120")
    base = [sys.executable, "-m", "playground.cli", "needle", "--config", str(duel_config.source),
            "--models", "vllm-demo", "local-demo", "--max-tokens", "8"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=300)

    page = tmp_path / "needle.html"
    first = run("--lengths", "256", "--depths", "0,100", "--html", str(page))
    assert first.returncode == 0, first.stderr
    assert "needle: 2 done, 0 failed, 0 skipped (done before) of 2 cells" in first.stderr
    for model in ("vllm-demo", "local-demo"):
        assert f"{model}: answers with the code / answers" in first.stdout
    assert re.search(r"256\s*│\s*[01]/1\s*│\s*[01]/1", first.stdout), first.stdout
    assert "data:image/png;base64," in page.read_text()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT count(*) FROM responses WHERE reference_match IS NOT NULL").fetchone() == (4,)

    again = run("--lengths", "256", "--depths", "0,100", "--html", str(page))
    assert again.returncode == 2 and "exists: not overwritten (add --force)" in again.stderr
    again = run("--lengths", "256", "--depths", "0,100")
    assert again.returncode == 0 and "0 done, 0 failed, 2 skipped (done before) of 2 cells" in again.stderr

    # A document of the whole window cannot be sent with policy refuse: each failure on one line.
    refused = run("--lengths", "2k", "--depths", "50", "--policy", "refuse")
    assert refused.returncode == 1, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.startswith("cell L2048-D50-R0: side")]
    assert len(lines) == 2 and all("Not sent: the prompt needs" in line for line in lines)
    assert "failed: L2048-D50-R0 (run again to retry them)" in refused.stderr

    bad = run("--lengths", "4x")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "--lengths: '4x' is not a length (use token counts such as 4096, 4k, 16k, 1m)")


async def test_the_reports_html_page_shows_the_sweeps_heat_maps(tmp_path: Path) -> None:
    from playground.store.migrate import upgrade

    from .test_cli_store import playground

    url = f"sqlite:///{tmp_path / 'needle.db'}"
    db = Database(url)
    try:
        await upgrade(db)
        config = fake_config()
        await run_needle(db, config, fake_pool(config, Reader("left"), Reader("right")), MODELS,
                         NeedleGridSpec((64,), (0, 100), repeats=1))
    finally:
        await db.dispose()
    page = tmp_path / "report.html"
    done = playground("report", "--html", str(page), db_url=url)
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert "<h2>Needle in a haystack: left vs right</h2>" in html
    assert html.count("data:image/png;base64,") >= 1
