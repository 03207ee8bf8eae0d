"""The export check of the conformance suite: a run of a model on a task exports to ONNX with parity, or leaves
out exactly the graphs its model declares it cannot trace (models/base.py `onnx_variable_length`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqarena.registry import get_model


def check_export(run_dir: str | Path, out: str | Path, exporter: str = "auto") -> dict[str, Any]:
    """Export the finished run in `run_dir` into `out`; assert parity of every graph and that nothing else is
    refused. Returns export.json's content."""
    from seqarena.deploy.export import TOLERANCE, export
    from seqarena.run import load

    run = load(run_dir)
    manifest = export(run_dir, out, exporter)
    for name, graph in manifest["graphs"].items():
        worst = max(graph["parity"].values())
        assert worst <= TOLERANCE, f"check_export: the {name} graph differs from eager by {worst:.2e}"
    model_cls = get_model(run.config.model.name)
    declined = set()
    if not model_cls.onnx_variable_length:
        declined = {g.name for g in run.task.export_graphs(run.model, run.artifacts)} - set(manifest["graphs"])
    unexpected = {k: v for k, v in manifest["refused"].items() if k not in declined}
    assert not unexpected, f"check_export: graphs refused without a declaration: {unexpected}"
    return manifest
