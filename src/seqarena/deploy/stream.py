"""Streaming inference: a finished run's task streamer (step(observation) and reset()) on ONNX Runtime when the
run has an export, or eager PyTorch. `seqarena stream` feeds it standard input line by line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqarena.deploy.runtime import backend


def open_stream(run_dir: str | Path, kind: str = "auto", export_dir: str | Path | None = None) -> Any:
    """The streamer of a finished run; `kind` is auto (ONNX Runtime when RUN/export exists), onnx or eager."""
    from seqarena.run import load

    run = load(run_dir)
    graphs = backend(run, kind, export_dir)
    streamer = run.task.streamer(run, graphs)
    streamer.backend = "onnxruntime" if hasattr(graphs, "sessions") else "eager"
    return streamer


def parse_row(line: str) -> list[float]:
    """A CSV row or whitespace-separated numbers."""
    from seqarena.errors import DataError

    parts = [p for p in line.replace(",", " ").split() if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise DataError(f"cannot read {line.strip()!r} as numbers; give one row of values per line") from None
