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
