"""Peak RSS of preparing a long document (``peak_rss_mb_per_mb_document`` of ``playground bench
longctx``), measured in a fresh subprocess: ``python -m playground.devtools.bench.longctx_memory rss
CONFIG DOCUMENT`` warms up, resets the peak where the kernel allows it, prepares the document and
prints the peak before and after as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from playground.core.config import PlaygroundConfig, load_config
from playground.devtools.bench.longctx import MIB, Seating, prepare_file, warm_up


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Set VmHWM back to the current RSS (Linux 4.0+); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


async def _rss_child(config_path: Path, document: Path) -> dict[str, Any]:
    seating = Seating.of(load_config(config_path))
    duel = seating.duel()
    await warm_up(seating, duel, document.parent)
    gc.collect()
    reset = _reset_peak_rss()
    before = _status_kib("VmHWM")
    await prepare_file(seating, duel, document)
    after = _status_kib("VmHWM")
    return {"before_kib": before, "after_kib": after, "rss_method": "clear_refs" if reset else "warm-up peak"}


def measure_peak_rss(config: PlaygroundConfig, document: Path) -> dict[str, Any]:
    if config.source is None:
        raise ValueError("bench longctx needs a config read from a file (its subprocess reads it again)")
    done = subprocess.run(
        [sys.executable, "-m", __name__, "rss", str(config.source.resolve()), str(document)],
        capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the peak-RSS subprocess failed ({done.returncode}): {done.stderr[-2000:]}")
    child: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    rise_mib = (child["after_kib"] - child["before_kib"]) / 1024
    size_mib = document.stat().st_size / MIB
    return {
        "peak_rss_mb_per_mb_document": round(rise_mib / size_mib, 2),
        "peak_rss_rise_mib": round(rise_mib, 1),
        "peak_rss_before_mib": round(child["before_kib"] / 1024, 1),
        "rss_method": child["rss_method"],
    }


def _main(argv: list[str]) -> int:
    """``python -m playground.devtools.bench.longctx_memory rss CONFIG DOCUMENT``: the peak-RSS subprocess."""
    if len(argv) != 3 or argv[0] != "rss":
        print("usage: python -m playground.devtools.bench.longctx_memory rss CONFIG DOCUMENT", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(_rss_child(Path(argv[1]), Path(argv[2])))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
