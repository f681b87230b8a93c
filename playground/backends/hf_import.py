"""Import transformers once, from one thread at a time.

transformers resolves its names lazily: ``from transformers import AutoConfig`` imports the
submodules behind the name on first use. When two threads do that for the first time at once (a
local model loading its weights while another backend loads a tokenizer, both off the event loop),
Python's import-deadlock breaker can hand one of them a half-initialised module, and the import
fails with "cannot import name 'AutoConfig' from 'transformers'". So every place in this package
that imports transformers calls :func:`import_transformers` first: the first caller resolves every
name the package uses under a lock, and the others wait for it, then find them all in place.
"""

from __future__ import annotations

import threading
from types import ModuleType

# Every top-level name the backends take from transformers. (The devtools' builders run in one
# thread of a command of their own and import what they need directly.)
NAMES = (
    "AutoConfig",
    "AutoModelForCausalLM",
    "AutoTokenizer",
    "GenerationConfig",
    "StoppingCriteria",
    "StoppingCriteriaList",
    "TextStreamer",
)
# Submodules imported by path; absent in older transformers (continuous batching is optional).
OPTIONAL_MODULES = (
    "transformers.generation.configuration_utils",
    "transformers.generation.continuous_batching.continuous_api",
)

_lock = threading.Lock()
_module: ModuleType | None = None

# transformers builds a model under torch's default dtype set for the whole process
# (``torch.set_default_dtype``, put back when the model is made). Two models built at once in one
# process (two local models loading together: ``bench duel``'s app mode, a batch run whose sides
# load on their first requests) then set and put back each other's: 6 of 10 such pairs left a
# model half in float32 or the process's default at bfloat16. So models are built one at a time.
model_build_lock = threading.Lock()


def import_transformers() -> ModuleType:
    """The transformers module with every name this package uses already resolved."""
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            import importlib

            import transformers

            for name in NAMES:
                getattr(transformers, name)  # resolves the lazy name and caches it on the module
            for path in OPTIONAL_MODULES:
                try:
                    importlib.import_module(path)
                except ImportError:
                    pass  # batching_engine.missing_reason() says why, where it matters
            _module = transformers
        return _module
