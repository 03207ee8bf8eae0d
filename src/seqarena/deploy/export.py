"""`seqarena export RUN`: a finished run's graphs (deploy/graphs.py) to ONNX, each checked against eager PyTorch.

Every graph goes through `torch.onnx.export` with the dynamo exporter first and the TorchScript-based one where
dynamo fails (a model may name the TorchScript one first: a step-by-step Python cell, which torch.export would
trace step by step for minutes). Parity is checked at once with ONNX Runtime: on a second shape (another batch,
and another length where the graph allows it), and for a step graph over a 100-step drift test with the state
fed back, both within TOLERANCE of eager. `export.json` records the path taken, the opset, the shapes and the
parity. A graph that fails is left out with its reason; a run whose main graph fails is refused and nothing is
written.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqarena.deploy import onnx_modules, versions
from seqarena.deploy.graphs import Graph
from seqarena.errors import SeqarenaError
from seqarena.files import check_output_dir, read_json, write_json
from seqarena.registry import get_model

TOLERANCE = 1e-4  # max |onnx - eager| / max(1, max |eager|)
EXPORTERS = ("auto", "dynamo", "torchscript")
OPSET = 18
MANIFEST = "export.json"


def _export_one(graph: Graph, path: Path, exporter: str) -> str:
    onnx_modules()
    order = ("dynamo", "torchscript") if graph.prefer == "dynamo" else ("torchscript", "dynamo")
    tried = order if exporter == "auto" else (exporter,)
    errors = []
    for way in tried:
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_torch():
                warnings.simplefilter("ignore")
                if way == "dynamo":
                    dims: tuple = tuple({a: torch.export.Dim.DYNAMIC for a in axes} for axes in graph.dynamic)
                    if graph.state:  # forward(x, *state): the state is one varargs tuple
                        dims = (*dims[: -graph.state], dims[-graph.state :])
                    torch.onnx.export(
                        graph.module, graph.example, str(path), input_names=list(graph.inputs),
                        output_names=list(graph.outputs), dynamo=True, dynamic_shapes=dims, opset_version=OPSET,
                        verbose=False, report=False, external_data=False,
                    )  # fmt: skip
                else:
                    axes = {n: a for n, a in zip(graph.inputs, graph.dynamic, strict=True) if a}
                    torch.onnx.export(
                        graph.module, graph.example, str(path), input_names=list(graph.inputs),
                        output_names=list(graph.outputs), dynamo=False, dynamic_axes=axes, opset_version=OPSET,
                    )  # fmt: skip
            graph.fallback = "; ".join(errors)
            return way
        except Exception as exc:  # noqa: BLE001 (the exporters raise many types; the reason is kept)
            errors.append(f"{way}: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}")
            path.unlink(missing_ok=True)
    raise RuntimeError("; ".join(errors))


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """The exporters log graph dumps and advice through torch's loggers and stderr; the user gets export.json."""
    loggers = [logging.getLogger(n) for n in ("torch", "torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def session(path: Path, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session with `threads` intra-op threads."""
    ort = onnx_modules()[1]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _gap(ref: torch.Tensor | np.ndarray, got: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        both_inf = np.isinf(ref) & (ref == got)  # e.g. -inf in a running max before the first step
        diff = np.where(both_inf, 0.0, np.abs(ref - got))
    scale = max(1.0, float(np.abs(np.where(np.isinf(ref), 0.0, ref)).max()))
    return float(np.nan_to_num(diff, nan=np.inf).max() / scale)


def _feed(graph: Graph, values: tuple[Any, ...], sess: Any) -> dict[str, np.ndarray]:
    """By name, leaving out inputs the file does not take (the tracer drops a state input the graph never reads)."""
    present = {i.name for i in sess.get_inputs()}
    return {n: np.asarray(v) for n, v in zip(graph.inputs, values, strict=True) if n in present}


def _eager(graph: Graph, values: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    with torch.inference_mode():
        out = graph.module(*values)
    return out if isinstance(out, tuple) else (out,)


def parity(graph: Graph, sess: Any) -> dict[str, float]:
    """The largest relative gap between ONNX Runtime and eager: on the second shape, and over the drift test."""
    got = sess.run(list(graph.outputs), _feed(graph, graph.second, sess))
    ref = _eager(graph, graph.second)
    out = {"second_shape": max(_gap(r, g) for r, g in zip(ref, got, strict=True))}
    if graph.state:
        k = graph.state
        eager_state = tuple(graph.second[-k:])
        onnx_state = [s.numpy() for s in eager_state]
        worst = 0.0
        for x in graph.steps:
            ref = _eager(graph, (x, *eager_state))
            got = sess.run(list(graph.outputs), _feed(graph, (x.numpy(), *onnx_state), sess))
            worst = max(worst, *(_gap(r, g) for r, g in zip(ref, got, strict=True)))
            eager_state, onnx_state = ref[-k:], got[-k:]
        out["drift"] = worst
    return out


def _shapes(path: Path) -> dict[str, dict[str, Any]]:
    """Every input's and output's dtype and shape, None for a variable dimension."""
    onnx = onnx_modules()[0]
    model = onnx.load(str(path), load_external_data=False)
    out: dict[str, dict[str, Any]] = {}
    for kind, values in (("inputs", model.graph.input), ("outputs", model.graph.output)):
        out[kind] = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            out[kind][v.name] = {"dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims}
    return out


def export_graphs(
    graphs: list[Graph], out: Path, exporter: str, declined: dict[str, str] | None = None
) -> dict[str, Any]:
    """Export and check each graph into `out`; the first graph is the main one and must pass. `declined`: graphs
    left out beforehand, with the reason."""
    done: dict[str, Any] = {}
    refused: dict[str, str] = dict(declined or {})
    for i, graph in enumerate(graphs):
        path = out / f"{graph.name}.onnx"
        started = time.perf_counter()
        try:
            way = _export_one(graph, path, exporter)
            gaps = parity(graph, session(path))
        except Exception as exc:  # noqa: BLE001
            reason = f"export failed ({str(exc)[:400]})"
            if i == 0:
                raise SeqarenaError(f"the {graph.name} graph cannot be exported to ONNX: {reason}") from None
            refused[graph.name] = reason
            path.unlink(missing_ok=True)
            continue
        if max(gaps.values()) > TOLERANCE:
            reason = f"ONNX Runtime differs from eager by {max(gaps.values()):.2e} (more than {TOLERANCE:g})"
            if i == 0:
                path.unlink(missing_ok=True)
                raise SeqarenaError(f"the {graph.name} graph does not export faithfully: {reason}")
            refused[graph.name] = reason
            path.unlink(missing_ok=True)
            continue
        done[graph.name] = {
            "file": path.name,
            "exporter": way,
            **({"first_choice_failed": graph.fallback} if graph.fallback else {}),
            "opset": OPSET,
            "note": graph.note,
            "state": graph.state,
            **({"drift_steps": len(graph.steps)} if graph.state else {}),
            "bytes": path.stat().st_size,
            "parity": gaps,
            "seconds": round(time.perf_counter() - started, 2),
            **_shapes(path),
        }
    return {"graphs": done, "refused": refused, "tolerance": TOLERANCE}


def export(
    run_dir: str | Path, out: str | Path | None = None, exporter: str = "auto", log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Export a finished run to ONNX in `out` (default RUN/export); returns what export.json records."""
    from seqarena.run import load

    if exporter not in EXPORTERS:
        raise SeqarenaError(f"--exporter={exporter!r} is not one of {', '.join(EXPORTERS)}")
    onnx_modules()
    run = load(run_dir)
    out = Path(out) if out is not None else run.run_dir / "export"
    check_output_dir(out, "--out", may_exist=MANIFEST)
    model_cls = get_model(run.config.model.name)
    graphs, declined = [], {}
    for g in run.task.export_graphs(run.model, run.artifacts):
        g.prefer = model_cls.onnx_exporter
        if not model_cls.onnx_variable_length and any("length" in axes.values() for axes in g.dynamic):
            declined[g.name] = (
                f"model '{model_cls.name}' loops over time steps in Python, so a traced graph would keep one length;"
                " its step graph serves streams"
            )
        else:
            graphs.append(g)
    if not graphs:
        raise SeqarenaError(f"{run.run_dir} cannot be exported to ONNX: {'; '.join(declined.values())}")
    if log is not None:
        log(f"exporting {len(graphs)} graph(s) of {run.run_dir} to {out}, each checked with ONNX Runtime")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        torch.manual_seed(0)
        manifest = {
            "run": str(run.run_dir),
            "task": run.config.task.name,
            "model": run.config.model.name,
            **export_graphs(graphs, partial, exporter, declined),
            "versions": versions(),
            "threads": torch.get_num_threads(),
        }
        write_json(partial / MANIFEST, manifest)
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return {**manifest, "out": str(out)}


def read_manifest(export_dir: Path) -> dict[str, Any]:
    path = export_dir / MANIFEST
    if not path.is_file():
        raise SeqarenaError(f"{export_dir} holds no ONNX export ({MANIFEST}); run `seqarena export RUN` first")
    try:
        return read_json(path)
    except (OSError, ValueError):
        raise SeqarenaError(f"{path} is not valid JSON; export the run again") from None
