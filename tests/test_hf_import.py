"""Loading models and tokenizers from several threads at once, in a fresh process: transformers
resolves its names lazily, and two first imports at once used to fail with "cannot import name
'AutoConfig' from 'transformers'" (a batch run whose local model loaded while the other side's
tokenizer did)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import local_model_entry

# Five threads start together, each through a different entry point of the package that imports
# transformers for the first time; the script prints what each thread got.
SCRIPT = """
import json, sys, threading
from pathlib import Path

import torch  # noqa: F401  (already there, as in an app that loaded a model: the race is then likelier)

from playground.backends.batching_engine import missing_reason
from playground.backends.hf_tokenizer import LocalTokenizer
from playground.backends.local_transformers import TransformersBackend, _loop_streamer_class
from playground.core.config import TransformersModel

entry = json.loads(sys.argv[1])
model = TransformersModel(**entry)
start = threading.Barrier(5)
results = {}

def run(name, work):
    start.wait()
    try:
        work()
        results[name] = "ok"
    except Exception as exc:
        results[name] = repr(exc)

jobs = {
    "weights": lambda: TransformersBackend(model, Path(entry["path"]))._load_sync(),
    "tokenizer": lambda: LocalTokenizer(Path(entry["path"]), "t").load_sync(),
    "other tokenizer": lambda: LocalTokenizer(Path(sys.argv[2]), "u").load_sync(),
    "batching check": missing_reason,
    "streamer": _loop_streamer_class,
}
threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


def test_first_imports_from_five_threads_at_once_all_succeed(demo_models_dir: Path) -> None:
    # The race does not lose every time: three fresh processes at once (without the lock, about
    # two runs in three lost at least one thread on this machine).
    entry = local_model_entry(demo_models_dir)
    command = [sys.executable, "-c", SCRIPT, json.dumps(entry), str(demo_models_dir / "demo-a")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        results = json.loads(out.strip().splitlines()[-1])
        assert results == dict.fromkeys(
            ["weights", "tokenizer", "other tokenizer", "batching check", "streamer"], "ok"
        ), results


async def test_two_local_models_loading_at_once_each_get_their_own_dtype(demo_models_dir: Path) -> None:
    """transformers sets torch's default dtype for the whole process while it builds a model: two
    bfloat16 models built at once (``bench duel``'s app mode) set and put back each other's. Without
    the build lock, 6 of 10 such pairs left a model half in float32 or the process's default at
    bfloat16, so that later tensors, and the next model, came out in the wrong dtype."""
    import asyncio

    import torch

    from playground.backends.local_transformers import TransformersBackend
    from playground.core.config import TransformersModel

    assert torch.get_default_dtype() == torch.float32
    for _ in range(6):
        backends = [
            TransformersBackend(TransformersModel(**local_model_entry(demo_models_dir, name=f"m{n}", dtype="bfloat16",
                                                                      batching=False)),
                                demo_models_dir / "demo-b", random_weights=True)
            for n in range(2)
        ]
        await asyncio.gather(*(backend.load() for backend in backends))
        for backend in backends:
            assert backend._loaded is not None
            assert {p.dtype for p in backend._loaded[0].parameters()} == {torch.bfloat16}
        assert torch.get_default_dtype() == torch.float32
