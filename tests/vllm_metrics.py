"""Read the real vLLM server's Prometheus counters, to see what the server itself did."""

from __future__ import annotations

import re
import time

import httpx

from playground.vllm_server import VLLMServer


def metric(server: VLLMServer, name: str, **labels: str) -> float:
    text = httpx.get(f"http://{server.host}:{server.port}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_metric(server: VLLMServer, name: str, predicate, timeout: float = 10.0, **labels: str) -> float:
    deadline = time.monotonic() + timeout
    value = metric(server, name, **labels)
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = metric(server, name, **labels)
    return value
