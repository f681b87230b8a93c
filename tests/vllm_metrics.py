"""Read the real vLLM server's Prometheus counters, to see what the server itself did."""

from __future__ import annotations

import re
import time

import httpx

from playground.devtools.vllm_server import VLLMServer


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


def wait_until_idle(server: VLLMServer, quiet_s: float = 0.5, timeout: float = 30.0) -> None:
    """Wait until the engine has generated nothing for ``quiet_s``.

    vLLM-CPU may go on generating a request whose client has gone (see the connection test in
    test_backend_openai.py); a timing test that starts meanwhile would measure that leftover work.
    The token counter is the reliable sign: the running gauge can read 0 while it still grows."""
    deadline = time.monotonic() + timeout
    last = metric(server, "vllm:generation_tokens_total")
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = metric(server, "vllm:generation_tokens_total")
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
    raise TimeoutError(f"vLLM on port {server.port} still generating after {timeout:.0f} s")
