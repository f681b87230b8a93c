"""The playground's YAML config, validated with pydantic.

Every error is a :class:`ConfigError` whose message names the file, the field (as a dotted path
such as ``models[1].path``) and what is wrong, so a broken config is fixed in one look.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from playground.core.vocabulary import PairPolicy, TruncationPolicy

DEFAULT_CONFIG_FILE = "playground.yaml"
CONFIG_ENV = "PLAYGROUND_CONFIG"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    # Unknown keys are typos more often than not: refuse them instead of ignoring them.
    model_config = ConfigDict(extra="forbid")


class GenerationDefaults(_Strict):
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1, le=262144)
    # Passed to the chat template, e.g. {"enable_thinking": false} for Qwen3.
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)


class _ModelBase(_Strict):
    name: str = Field(min_length=1)
    context_window: int = Field(4096, ge=16)
    # What this side does with a prompt over its window (the settings panel can change it per
    # chat): cut the middle of the documents by default, as LongBench does.
    truncation: TruncationPolicy = "middle"
    defaults: GenerationDefaults = Field(default_factory=GenerationDefaults)


class OpenAIModel(_ModelBase):
    """A model behind any server that speaks ``/v1/chat/completions`` (vLLM, SGLang, OpenAI)."""

    backend: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1, description="the server's model name (vLLM: --served-model-name)")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    timeout_s: float = Field(60.0, gt=0)
    # The model's tokenizer folder (a checkpoint folder will do; relative to the config file), for
    # counting tokens when the server has no /tokenize (any server but vLLM).
    tokenizer: str | None = Field(None, min_length=1)

    def api_key(self) -> str:
        if self.api_key_env is None:
            return "EMPTY"  # vLLM accepts any key unless started with --api-key
        return os.environ.get(self.api_key_env, "")


class TransformersModel(_ModelBase):
    """A local Hugging Face checkpoint run with transformers, in the app's process or a worker."""

    backend: Literal["transformers"]
    path: str = Field(min_length=1)
    device: Literal["cpu", "cuda", "mps", "auto"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # torch threads for this model's generate(); None keeps torch's default.
    threads: int | None = Field(None, ge=1)
    # Where the model runs: "app" in the app's process; "worker" in a child process of its own, so
    # two local models, or a local model and a busy app, do not share one GIL.
    process: Literal["app", "worker"] = "app"
    # Concurrent requests are batched with transformers' continuous batching (paged KV cache);
    # False serves one request at a time with generate() (and is the fallback where the installed
    # transformers has no continuous batching).
    batching: bool = True
    # Requests decoded together in one batch; more wait in the engine's queue.
    max_batch: int = Field(8, ge=1, le=1024)
    # KV cache of the batch, in tokens (allocated at load). None: room for max_batch full
    # windows, at most 65,536 tokens, and never less than one full window.
    cache_tokens: int | None = Field(None, ge=16)
    # torch.compile the forward passes (batching: transformers' default compile level 1; one at a
    # time: a static cache, which generate() compiles). Slow first requests; off by default.
    compile: bool = False
    # CUDA graphs for the batched decode (batching on cuda only); None lets transformers decide
    # (on with flash attention, off on the CPU, where there are none).
    cuda_graphs: bool | None = None


ModelConfig = Annotated[OpenAIModel | TransformersModel, Field(discriminator="backend")]


class ArenaConfig(_Strict):
    """The arena's models: a fixed pair (``model_a``, ``model_b``), or ``models`` (two or more)
    with a pair drawn for each new conversation by ``pairs``: ``adaptive`` (the default: the
    pairs that narrow the widest rating intervals most, new models first, no pair starved) or
    ``uniform`` (every pair alike). With ``models``, model_a and model_b read as its first two."""

    model_a: str = ""
    model_b: str = ""
    models: list[str] | None = Field(None, min_length=2)
    pairs: Literal["uniform", "adaptive"] | None = None
    blind: bool = True
    max_prompt_chars: int = Field(100_000, ge=1)
    system_prompt: str = ""
    queue_overlap: int = Field(2, ge=1, le=20)  # raters per batch item in the rating queue

    # Share of the rating queue's hand-outs that are gold items (known verdicts, unmarked), while
    # the rater has gold items left; 0 turns them off.
    gold_rate: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_way_to_name_models(self) -> ArenaConfig:
        if self.models is not None:
            if self.model_a or self.model_b:
                raise ValueError("arena: give either arena.models or arena.model_a and arena.model_b, not both")
            repeated = sorted({m for m in self.models if self.models.count(m) > 1})
            if repeated:
                raise ValueError(f"arena.models: each model once, repeated: {', '.join(repeated)}")
            self.model_a, self.model_b = self.models[0], self.models[1]
            return self
        if self.pairs is not None:
            raise ValueError("arena.pairs: only with arena.models (model_a and model_b are a fixed pair)")
        if not self.model_a or not self.model_b:
            raise ValueError("arena: give arena.models (two or more model names) or arena.model_a and arena.model_b")
        return self

    def model_names(self) -> list[str]:
        """Every model of the arena: the fixed pair, or ``models``."""
        return list(self.models) if self.models is not None else list(dict.fromkeys((self.model_a, self.model_b)))

    def pair_policy(self) -> PairPolicy:
        """How a new conversation's pair is chosen: fixed, uniform or adaptive (the default of ``models``)."""
        if self.models is None:
            return "fixed"
        return self.pairs or "adaptive"


class JudgeConfig(_Strict):
    """An LLM that compares two answers (``playground judge``), asked twice with the sides swapped."""

    model: str  # one of the configured models
    max_tokens: int = Field(256, ge=1, le=32768)


class DocumentLimits(_Strict):
    """Limits on the files a rater attaches (applied by ``playground/evalsets/documents.py``).

    Sizes are in bytes, decimal units (20 MB = 20,000,000 bytes), as the error messages print them.
    """

    max_bytes: int = Field(20_000_000, ge=1)  # per file, checked before the file is read
    max_pages: int = Field(2000, ge=1)  # per PDF: pypdf reads every page, so this bounds the work
    max_files: int = Field(5, ge=1)  # per message
    # A prompt pasted in the chat box longer than this is kept as a document (stored once by hash).
    paste_threshold_chars: int = Field(20_000, ge=1)


class PlaygroundConfig(_Strict):
    models: list[ModelConfig] = Field(min_length=1)
    arena: ArenaConfig
    judge: JudgeConfig | None = None
    documents: DocumentLimits = Field(default_factory=DocumentLimits)

    @model_validator(mode="after")
    def _arena_names_known_models(self) -> PlaygroundConfig:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {', '.join(duplicates)}")
        wanted_by_field = ([(f"models[{i}]", name) for i, name in enumerate(self.arena.models)]
                           if self.arena.models is not None
                           else [("model_a", self.arena.model_a), ("model_b", self.arena.model_b)])
        for field, wanted in wanted_by_field:
            if wanted not in names:
                raise ValueError(
                    f"arena.{field}: no model named {wanted!r} (known: {', '.join(names)})"
                )
        if self.judge is not None and self.judge.model not in names:
            raise ValueError(f"judge.model: no model named {self.judge.model!r} (known: {', '.join(names)})")
        return self

    def model_names(self) -> list[str]:
        return [m.name for m in self.models]

    def model(self, name: str) -> OpenAIModel | TransformersModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    # Where the config was read from; relative checkpoint paths are taken from its folder.
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("openai", "transformers"):
            continue  # the discriminated union's tag is noise in a field path
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_config(data: Any, source: Path | str) -> PlaygroundConfig:
    """Validate already-parsed YAML data; errors name ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with 'models' and 'arena'")
    try:
        config = PlaygroundConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{source}: {_field_path(err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
    config._source = Path(source)
    return config


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))


def read_yaml(path: Path, error: type[ValueError], missing: str) -> Any:
    """A YAML file's data; a missing or unparsable file raises ``error`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None


def load_config(path: Path | str | None = None) -> PlaygroundConfig:
    path = Path(path) if path is not None else config_path()
    data = read_yaml(path, ConfigError, f"config file not found (set {CONFIG_ENV} to another)")
    return parse_config(data, path)


def check_local_paths(config: PlaygroundConfig, names: list[str] | None = None) -> None:
    """Refuse to start when a transformers model's checkpoint, or a configured tokenizer folder,
    is missing.

    Relative paths are taken from the config file's folder, so a config and its checkpoints
    can travel together.
    """
    problems: list[str] = []
    for index, model in enumerate(config.models):
        if names and model.name not in names:
            continue
        if isinstance(model, OpenAIModel):
            if model.tokenizer is not None:
                folder = resolve_config_path(config, model.tokenizer)
                if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
                    problems.append(f"{config.source}: models[{index}].tokenizer: no tokenizer at {folder} "
                                    f"(model {model.name!r}; expected a folder with tokenizer.json)")
            continue
        resolved = resolve_model_path(config, model)
        if not (resolved / "config.json").is_file():
            problems.append(
                f"{config.source}: models[{index}].path: no checkpoint at {resolved} "
                f"(model {model.name!r}; expected a folder with config.json)"
            )
    if problems:
        raise ConfigError("\n".join(problems))


def resolve_model_path(config: PlaygroundConfig, model: TransformersModel) -> Path:
    return resolve_config_path(config, model.path)


def resolve_config_path(config: PlaygroundConfig, path: str) -> Path:
    """A path written in the config: ``~`` expanded, a relative one taken from the config's folder."""
    resolved = Path(os.path.expanduser(path))
    if not resolved.is_absolute() and config.source is not None:
        resolved = config.source.resolve().parent / resolved
    return resolved
