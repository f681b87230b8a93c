"""A long document counted in spans (arena.document_tokens) against the same document counted
whole, with real tokenizers built here of the three families that matter: byte-level BPE with
Qwen2's pre-tokenizer (Qwen3, and GPT-2/Llama-3 alike), the demo's Metaspace BPE, and a
SentencePiece-style one as Llama 2 has it, which marks the start of the text and merges across
spaces (spans are not exact: it must be counted whole)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from playground.arena import document_tokens
from playground.arena.context import plan_context
from playground.arena.document_tokens import PROBE, SpannedDocument, safe_places, spanned, spans_are_exact
from playground.backends.local_transformers import TransformersBackend
from playground.core.config import TransformersModel
from playground.core.events import ChatMessage, SamplingParams
from playground.devtools.demo_models import _CORPUS, CHATML_TEMPLATE, SPECIAL_TOKENS
from playground.evalsets.documents import render_documents
from playground.evalsets.haystack import render_haystack
from playground.store.documents import DocumentText

# Qwen2's pre-tokenizer split (Qwen3 keeps it).
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
UNICODE = "naïve café, 東京の夜 ünïcödé ½ ﬁnal — “quoted” 'single' (x) [1] {y} 42% $3.50\n\n"


def build_tokenizer(kind: str, folder: Path) -> Path:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None if kind == "qwen" else "<unk>", byte_fallback=False))
    if kind == "qwen":
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    elif kind == "metaspace":
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
        tokenizer.decoder = decoders.Metaspace(prepend_scheme="never")
        alphabet = []
    else:  # Llama 2's way: a marker put before the whole text, and no pre-tokenizer (merges go anywhere)
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip(" ", 1, 0)])
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=[*SPECIAL_TOKENS, "<unk>"], show_progress=False,
                                  initial_alphabet=alphabet)
    tokenizer.train_from_iterator([_CORPUS * 4, UNICODE * 20, PROBE * 10], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None if kind == "qwen" else "<unk>", chat_template=CHATML_TEMPLATE)
    path = folder / kind
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TransformersBackend]:
    folder = tmp_path_factory.mktemp("tokenizers")
    made = {}
    for kind in ("qwen", "metaspace", "marked"):
        path = build_tokenizer(kind, folder)
        entry = TransformersModel(name=kind, backend="transformers", path=str(path), context_window=4096)
        made[kind] = TransformersBackend(entry, path)  # only its tokenizer is used: no weights are loaded
    return made


def long_text() -> str:
    """About 200 KB: generated prose with numbers, punctuation, runs of spaces and newlines,
    accents and CJK, so that spans meet every kind of neighbour."""
    pieces = []
    for seed in range(8):
        pieces.append(render_haystack(3000, f"The vault code is {7000 + seed}.", 0.5, seed))
        pieces.append("\n\n    indented  code(x) == {'a': 1}\n" + UNICODE)
    return "".join(pieces)


def build(documents_text: str) -> list[ChatMessage]:
    return [{"role": "system", "content": "Answer from the document."},
            {"role": "user", "content": (documents_text + "\n\n" if documents_text else "") + "What is the code?"}]


def test_safe_places_are_single_spaces_between_non_spaces() -> None:
    text = "alpha beta  gamma\n delta epsilon"
    places = safe_places(text, every=1)
    assert places[0] == 0 and places[-1] == len(text)
    for place in places[1:-1]:
        assert text[place] == " " and not text[place - 1].isspace() and not text[place + 1].isspace()
    assert [text[p:q] for p, q in zip(places, places[1:], strict=False)] == [
        "alpha", " beta  gamma\n delta", " epsilon"]
    assert safe_places("x" * 100, every=10) == [0, 100]  # no place: one span


@pytest.mark.parametrize("kind", ["qwen", "metaspace"])
async def test_spans_give_the_tokens_of_the_whole_text(backends: dict[str, TransformersBackend], kind: str) -> None:
    backend = backends[kind]
    assert await spans_are_exact(backend)
    text = render_documents([DocumentText("x", "long.txt", "text", long_text(), 0, None)])
    document = SpannedDocument.of(text)
    assert document.spans > 10
    whole = await backend.encode(text)
    assert await document.total(backend) == len(whole)
    pieces: list[int] = []
    for index in range(document.spans):
        pieces.extend(await backend.encode(document.span(index)))
    assert pieces == whole


async def test_a_tokenizer_that_marks_every_piece_is_counted_whole(backends: dict[str, TransformersBackend]) -> None:
    backend = backends["marked"]
    assert not await spans_are_exact(backend)
    assert await spanned(backend, long_text()) is None


@pytest.mark.parametrize("kind", ["qwen", "metaspace", "marked"])
@pytest.mark.parametrize("policy", ["head", "tail", "middle"])
async def test_a_plan_made_in_spans_is_the_plan_made_whole(
    backends: dict[str, TransformersBackend], kind: str, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = backends[kind]
    text = render_documents([DocumentText("x", "long.txt", "text", long_text(), 0, None)])
    params = SamplingParams(max_tokens=200)
    in_spans = await plan_context("a", backend, build, text, params, policy)  # type: ignore[arg-type]
    monkeypatch.setattr(document_tokens, "SPANNED_FROM_CHARS", 10**12)
    whole = await plan_context("a", backend, build, text, params, policy)  # type: ignore[arg-type]
    assert in_spans.full_tokens == whole.full_tokens == await backend.count_prompt(build(text), params)
    # Counted whole, the kept text is decoded from tokens, so it comes back in the tokenizer's
    # normal form (NFKC writes "½" as "1⁄2"); in spans only the span a cut falls in is decoded,
    # and the rest is the document as written. Either way the model receives the same tokens.
    normal = (lambda t: unicodedata.normalize("NFKC", t)) if kind == "metaspace" else (lambda t: t)
    assert normal(in_spans.documents_text) == normal(whole.documents_text) and in_spans.cut
    assert (in_spans.sent_tokens, in_spans.document_tokens, in_spans.kept_document_tokens) == (
        whole.sent_tokens, whole.document_tokens, whole.kept_document_tokens)
    assert in_spans.sent_tokens is not None and in_spans.sent_tokens + 200 <= 4096
