"""``playground bench replicas``, small: scripted socket.io raters through HAProxy onto two app
replicas (the demo backends, one PostgreSQL server); its invariants must hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.core.config import load_config
from playground.devtools.bench.replicas import bench_replicas
from playground.devtools.vllm_server import VLLMServer

from .conftest import local_model_entry, vllm_model_entry, write_config

pytestmark = [pytest.mark.replicas, pytest.mark.postgres]


async def test_scripted_raters_on_two_replicas_lose_nothing_and_stay_on_their_replica(
    vllm_server: VLLMServer, demo_models_dir: Path, tmp_path: Path
) -> None:
    config = load_config(write_config(
        tmp_path / "bench.yaml",
        [vllm_model_entry(vllm_server), local_model_entry(demo_models_dir)],
        "vllm-demo", "local-demo", blind=True,
    ))
    result = await bench_replicas(config, raters=4, turns=2, queue_items=6, queue_overlap=2, max_tokens=16)
    print(result)
    # 4 raters x 2 duel turns, and 6 queue items x 2 raters each.
    assert result["ratings_acknowledged"] == 4 * 2 + 6 * 2
    assert result["ratings_stored"] == result["ratings_acknowledged"]
    assert (result["ratings_missing"], result["ratings_refused"], result["duplicate_rows"]) == (0, 0, 0)
    assert result["overlap_violations"] == 0
    assert result["sticky_violations"] == 0
    # Every rater's login and every rating went through the proxy and were checked.
    assert result["responses_checked"] >= 4 + result["ratings_acknowledged"]
    # leastconn spreads sessions logged in one after another over both replicas.
    assert result["raters_per_replica"] == {"r1": 2, "r2": 2}
    assert result["p99_rating_ack_ms"] is not None and result["p99_rating_ack_ms"] > 0
