"""`seqarena quantize RUN`: int8 dynamic quantisation of an export with ONNX Runtime (weights int8, activations
quantised on the fly: its recommended mode for RNNs and Transformers), with what it costs and saves: file size,
batch-1 latency, and the change of the task's own test metric against fp32 on the test split.

Operators ONNX Runtime has no int8 kernel for stay in fp32; the report counts the int8 operators per graph and
names the operator types left in float, so a graph that barely shrinks says why.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqarena.deploy import need
from seqarena.deploy.export import read_manifest
from seqarena.deploy.runtime import OnnxGraphs
from seqarena.errors import SeqarenaError
from seqarena.files import write_json

WEIGHTED = ("MatMul", "Gemm", "LSTM", "GRU", "RNN", "Conv", "Attention", "Gather")  # ops with weights
REPORT = "quantize.json"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's quantiser logs advice through the root logger; keep the user's terminal for results."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _ops(path: Path) -> tuple[Counter, Counter]:
    """Every operator type, and the weighted ones that still hold a float weight (an initialiser input)."""
    onnx = need("onnx")[0]
    graph = onnx.load(str(path)).graph
    weights = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) >= 2}
    ops = Counter(n.op_type for n in graph.node)
    weighted = Counter(n.op_type for n in graph.node if n.op_type in WEIGHTED and weights & set(n.input))
    return ops, weighted


def latency_ms(graphs: OnnxGraphs, name: str, inputs: list[np.ndarray], calls: int = 200) -> float:
    """Median wall time of one call, after 10 warm-up calls."""
    for _ in range(10):
        graphs.run_numpy(name, *inputs)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        graphs.run_numpy(name, *inputs)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def quantize(run_dir: str | Path, export_dir: str | Path | None = None, calls: int = 200) -> dict[str, Any]:
    """Write <graph>.int8.onnx beside each exported graph and quantize.json; returns the report."""
    from seqarena.run import load

    (qd,) = need("onnxruntime.quantization")
    run = load(run_dir)
    export_dir = Path(export_dir) if export_dir is not None else run.run_dir / "export"
    manifest = read_manifest(export_dir)
    report: dict[str, Any] = {"graphs": {}, "mode": "dynamic int8 (weights int8, activations quantised per call)"}
    for name, info in manifest["graphs"].items():
        src, dst = export_dir / info["file"], export_dir / f"{name}.int8.onnx"
        prepared = export_dir / f".{name}.prepared.onnx"
        try:  # constant folding first, so weights computed in the graph become initialisers the quantiser finds
            with contextlib.redirect_stderr(io.StringIO()), _quiet():
                qd.quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
                qd.quantize_dynamic(str(prepared), str(dst), weight_type=qd.QuantType.QInt8)
        except Exception as exc:  # noqa: BLE001 (ONNX Runtime's quantiser raises many types)
            report["graphs"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            dst.unlink(missing_ok=True)
            continue
        finally:
            prepared.unlink(missing_ok=True)
        (before, _), (after, float_left) = _ops(src), _ops(dst)
        report["graphs"][name] = {
            "fp32_bytes": src.stat().st_size,
            "int8_bytes": dst.stat().st_size,
            "size_ratio": round(dst.stat().st_size / src.stat().st_size, 4),
            "int8_ops": sum(v for k, v in after.items() if "Integer" in k or "Quant" in k),
            "left_in_float": dict(sorted(float_left.items())),  # operators whose weight matrix stayed fp32
            "ops_before": dict(before),
        }
    fp32, int8 = OnnxGraphs(export_dir), OnnxGraphs(export_dir, ".int8")
    if not int8.sessions:
        raise SeqarenaError(f"no graph of {export_dir} could be quantised: {report['graphs']}")
    main = next(iter(int8.sessions))  # the window graph, or the step graph of a streams-only export
    example = next(g for g in run.task.export_graphs(run.model, run.artifacts) if g.name == main).example
    one = [t[:1].numpy() for t in example]  # batch 1
    report["latency_b1_ms"] = {
        "graph": main,
        "fp32": round(latency_ms(fp32, main, one, calls), 4),
        "int8": round(latency_ms(int8, main, one, calls), 4),
    }
    task = run.task(run.config, run.run_dir)
    metric = task.metric.key
    device = torch.device("cpu")
    scores = {}
    for label, graphs in (("fp32", fp32), ("int8", int8)):
        try:
            model = run.task.onnx_model(run, graphs)
            scores[label] = task.evaluate(model, "test", run.config.eval.batch_size, device)
        except (KeyError, RuntimeError) as exc:  # a streams-only export of a task scored on whole windows
            report["metric"] = {"name": metric, "error": f"not scored: {type(exc).__name__}: {exc}"}
            write_json(export_dir / REPORT, report)
            return report
    report["metric"] = {
        "name": metric,
        "split": "test",
        "fp32": scores["fp32"][metric],
        "int8": scores["int8"][metric],
        "change": scores["int8"][metric] - scores["fp32"][metric],
        "higher_is_better": task.metric.higher_is_better,
    }
    write_json(export_dir / REPORT, report)
    return report


def deploy_profile(run_dir: str | Path) -> dict[str, Any]:
    """What the arena's `export` columns show for a trained run: ONNX Runtime latency at batch 1, the int8 size and
    the change of the test metric under int8. A run that cannot be exported gets the reason instead."""
    from seqarena.deploy.export import export

    try:
        export(run_dir)
        q = quantize(run_dir, calls=200)
    except SeqarenaError as exc:
        return {"export_error": str(exc)}
    return {
        "onnx_latency_b1_ms": q["latency_b1_ms"]["fp32"],
        "int8_latency_b1_ms": q["latency_b1_ms"]["int8"],
        "int8_kb": sum(g.get("int8_bytes", 0) for g in q["graphs"].values()) / 1024,
        "int8_metric_change": q["metric"].get("change"),
    }
