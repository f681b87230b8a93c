"""Tiny local checkpoints that both transformers and vLLM-CPU load, built in seconds, no download.

Two small, different ``Qwen3ForCausalLM`` models with random weights and a BPE tokenizer
trained here on local text, with a ChatML chat template. They stream gibberish, which
is enough to exercise every real code path: vLLM's server, transformers' generate, streaming,
stopping, timing. head_dim is 64 because vLLM's CPU attention kernel rejects 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Local text to train the tokenizer on: the product's own description, in two languages, plus
# digits and code, so that prompts in the tests tokenize into sensible pieces.
_CORPUS = """
Human raters compare two language models on the same prompt. Both answers stream side by side,
the rater scores accuracy and fluency from one to five and says which answer is better.
Every conversation, answer, timing and score is stored and aggregated into a leaderboard.
The quick brown fox jumps over the lazy dog. What is the capital of France? Paris.
Calculate 15 + 27 = 42. 100 - 37 = 63. 8 x 7 = 56. 25 x 16 = 400. 2**10 = 1024.
def hello(name): return f"hello {name}"  print(len('hello'))  [1, 2, 3][1]
中国的首都是北京。地球上最大的海洋是太平洋。计算九十九乘九十九。
Long documents, needle tests and context windows of many thousand tokens.
ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 H2O
. , ; : ! ? ' " ( ) [ ] { } < > + - * / = % $ # @ & _ | \\ ~ ` ^
"""


@dataclass(frozen=True)
class DemoSpec:
    name: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    seed: int


DEMO_SPECS = (
    DemoSpec("demo-a", layers=2, hidden=128, heads=2, intermediate=256, seed=1),
    DemoSpec("demo-b", layers=3, hidden=192, heads=3, intermediate=384, seed=2),
)


def build_tokenizer(vocab_size: int = 512):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Word pieces with a SentencePiece-style space marker rather than byte-level BPE: every token
    # decodes to readable text, so the demo's random answers show words, not broken bytes.
    # Characters the corpus never saw map to <unk>, which is fine for a demo model.
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="never")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS + ["<unk>"], show_progress=False
    )
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        bos_token=None,
        chat_template=CHATML_TEMPLATE,
        model_max_length=32768,
    )


def build_demo_model(spec: DemoSpec, out_dir: Path) -> Path:
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(spec.seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=32768,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
    )
    model: Any = Qwen3ForCausalLM(config)
    model.to(torch.float32)
    with torch.no_grad():
        # An output head of its own (untied, or the model just repeats its input token), scaled
        # so that logits spread with a standard deviation of about 4, with the special tokens'
        # rows zeroed: their logit is 0, far below the best tokens, so a demo answer practically
        # never ends early or prints markup; it runs to max_tokens.
        head = model.get_output_embeddings().weight
        head.normal_(0.0, 4.0 / spec.hidden**0.5)
        for token in SPECIAL_TOKENS + ["<unk>"]:
            head[tokenizer.convert_tokens_to_ids(token)] = 0.0
        # Tokens that print nothing visible (spaces, newlines) are muted the same way: a random
        # model can fall into repeating one, and an answer of blank lines looks like no answer.
        for token_id in range(len(tokenizer)):
            if not tokenizer.decode([token_id]).strip():
                head[token_id] = 0.0
    target = out_dir / spec.name
    target.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def build_demo_models(out_dir: Path, force: bool = False) -> list[Path]:
    """Build both demo checkpoints under ``out_dir`` (skipping ones already there)."""
    paths = []
    for spec in DEMO_SPECS:
        target = out_dir / spec.name
        if force or not (target / "config.json").is_file():
            build_demo_model(spec, out_dir)
        paths.append(target)
    return paths
