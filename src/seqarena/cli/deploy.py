"""Shipping commands: export, quantize, stream, serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, log
from seqarena.files import dumps


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="a finished run directory")],
    out: Annotated[Path | None, typer.Option(help="where the ONNX files go (default RUN/export)")] = None,
    exporter: Annotated[str, typer.Option(help="auto (dynamo, then TorchScript), dynamo or torchscript")] = "auto",
) -> None:
    """Export a run to ONNX: the whole-window graph, and a step graph with named state for stateful models; each
    checked against PyTorch with ONNX Runtime."""
    from seqarena.deploy.export import export as do_export

    result = do_export(run, out, exporter, log=log)
    summary = {
        name: {"exporter": g["exporter"], "parity": g["parity"], "bytes": g["bytes"], "inputs": g["inputs"]}
        for name, g in result["graphs"].items()
    }
    print(dumps({"out": result["out"], "graphs": summary, "refused": result["refused"]}, indent=2))


@app.command()
def quantize(
    run: Annotated[Path, typer.Argument(help="a finished, exported run directory")],
    export_dir: Annotated[Path | None, typer.Option("--export", help="the export (default RUN/export)")] = None,
    calls: Annotated[int, typer.Option(help="timed calls for the batch-1 latency")] = 200,
) -> None:
    """int8 dynamic quantisation with ONNX Runtime: file size, latency and the change of the test metric."""
    from seqarena.deploy.quantize import quantize as do_quantize
    from seqarena.errors import SeqarenaError

    if calls < 1:
        raise SeqarenaError("--calls must be >= 1")
    report = do_quantize(run, export_dir, calls)
    print(dumps(report, indent=2))


@app.command()
def stream(
    run: Annotated[Path, typer.Argument(help="a finished run directory")],
    backend: Annotated[str, typer.Option(help="auto (ONNX Runtime if exported), onnx or eager")] = "auto",
    tokens: Annotated[int, typer.Option(help="language models: tokens to continue after each line")] = 20,
    temperature: Annotated[float, typer.Option(help="language models: 0 is greedy")] = 0.0,
) -> None:
    """Predict step by step from standard input: forecasting and classification take one row of numbers per
    line, language models a line of text (then continue it token by token). Prints one JSON line per step."""
    from seqarena.deploy.stream import open_stream, parse_row
    from seqarena.errors import SeqarenaError

    if tokens < 0 or temperature < 0:
        raise SeqarenaError("--tokens and --temperature must be >= 0")
    streamer = open_stream(run, backend)
    log(f"streaming {run} on {streamer.backend}; one observation per line, end with Ctrl-D")
    text = hasattr(streamer, "continuation")
    for line in sys.stdin:
        if not line.strip() and not text:
            continue
        if text:
            out = streamer.step(line.rstrip("\n"))
            print(dumps({"fed": out["tokens"], "ms": round(out["ms"], 3)}), flush=True)
            for tok in streamer.continuation(tokens, temperature):
                print(dumps({"token": tok["text"], "id": tok["id"], "ms": round(tok["ms"], 3)}), flush=True)
        else:
            out = streamer.step(parse_row(line))
            print(dumps({k: round(v, 3) if k == "ms" else v for k, v in out.items()}), flush=True)


@app.command()
def serve(
    runs: Annotated[list[str], typer.Argument(help="finished run directories, each RUN or NAME=RUN")],
    host: Annotated[str, typer.Option(help="the address to bind (another than loopback exposes the models)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="the port")] = 8000,
    backend: Annotated[str, typer.Option(help="auto (ONNX Runtime where exported), onnx or eager")] = "auto",
    max_batch: Annotated[int, typer.Option(help="rows per call: the largest request and dynamic batch")] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option(help="dynamic batching: how long to gather requests (0: off, the default)")
    ] = 0.0,
    max_streams: Annotated[int, typer.Option(help="streams open at once (sequence ids)")] = 64,
    idle_s: Annotated[float, typer.Option(help="a stream with no request for this long is closed")] = 300.0,
    threads: Annotated[int, typer.Option(help="compute threads")] = 1,
) -> None:
    """Serve runs over HTTP with the Open Inference Protocol (KServe v2): health, metadata, infer (dynamically
    batched), stateful streams, and server-sent token streams for language models."""
    from seqarena.deploy.serve import serve as run_server
    from seqarena.errors import SeqarenaError

    if not 0 < port < 65536:
        raise SeqarenaError(f"--port={port} must be within 1..65535")
    for key, value in (("--max-batch", max_batch), ("--max-streams", max_streams), ("--threads", threads)):
        if value < 1:
            raise SeqarenaError(f"{key}={value} must be >= 1")
    if batch_wait_ms < 0 or batch_wait_ms > 1000 or idle_s <= 0:
        raise SeqarenaError("--batch-wait-ms must be within 0..1000 and --idle-s > 0")
    log(f"serving {len(runs)} run(s) on http://{host}:{port}/v2 (Ctrl-C stops)")
    run_server(
        runs, host=host, port=port, kind=backend, max_batch=max_batch, batch_wait_ms=batch_wait_ms,
        max_streams=max_streams, idle_s=idle_s, threads=threads,
    )  # fmt: skip
