"""Builds backends from config and keeps one instance per model for the whole process.

A local transformers model is loaded once and shared by every chat session (one copy of the
weights in memory, in the app's process or in a worker process of its own); the pool is the one
place that owns that sharing.
"""

from __future__ import annotations

from playground.backends.base import Backend
from playground.core.config import (
    OpenAIModel,
    PlaygroundConfig,
    TransformersModel,
    resolve_config_path,
    resolve_model_path,
)


class BackendPool:
    def __init__(self, config: PlaygroundConfig) -> None:
        self.config = config
        self._backends: dict[str, Backend] = {}

    def get(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            backend = self._build(name)
            self._backends[name] = backend
        return backend

    def register(self, name: str, backend: Backend) -> None:
        """Use ``backend`` for the configured model ``name`` (tests: a FakeBackend)."""
        self.config.model(name)  # a KeyError for a name the config does not know
        self._backends[name] = backend

    async def close(self) -> None:
        """Stop what the backends run beside the app: batching threads, worker processes."""
        for backend in self._backends.values():
            close = getattr(backend, "close", None)
            if close is not None:
                await close()

    def _build(self, name: str) -> Backend:
        model = self.config.model(name)
        if isinstance(model, OpenAIModel):
            from playground.backends.openai_compatible import OpenAICompatibleBackend

            tokenizer = resolve_config_path(self.config, model.tokenizer) if model.tokenizer else None
            return OpenAICompatibleBackend(model, tokenizer)
        if isinstance(model, TransformersModel):
            if model.process == "worker":
                from playground.backends.worker_transformers import WorkerTransformersBackend

                return WorkerTransformersBackend(model, resolve_model_path(self.config, model))
            from playground.backends.local_transformers import TransformersBackend

            return TransformersBackend(model, resolve_model_path(self.config, model))
        raise TypeError(f"unknown backend for model {name!r}")
