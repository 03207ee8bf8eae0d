"""Deployment speed: eager PyTorch against ONNX Runtime on the graphs `seqarena export` writes, in one process,
one thread each, and the int8 file size against fp32.

- batch-1 latency of whole-window forecasters (lookback 96, 7 channels, horizon 96): LSTM, GRU, Transformer, S4D;
- per-step streaming latency of a step graph (x_t, state) -> (y_t, state) for LSTM, GRU, S4D, Mamba and linear
  attention: one new observation of 7 channels, the state fed back.

Latency is the median of --calls calls after 20 warm-up calls. Weights are freshly initialised (latency does not
depend on their values); `seqarena quantize RUN` reports the metric change of int8 on a trained run.

    .venv/bin/python benchmarks/deploy.py [--calls 300] [--width 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from seqarena.config import build
from seqarena.deploy.export import export_graphs, session
from seqarena.deploy.graphs import step_graph, stepped
from seqarena.registry import get_model
from seqarena.tasks.forecast_export import export_graphs as forecast_graphs
from seqarena.tasks.forecast_model import make_model

WINDOW = ("lstm", "gru", "transformer", "s4d")
STEP = ("lstm", "gru", "s4d", "mamba", "linear_attention")
LOOKBACK, HORIZON, CHANNELS = 96, 96, 7


def median_ms(call: Callable[[], object], calls: int) -> float:
    for _ in range(20):
        call()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


class StreamingStep(nn.Module):
    """One step of a streaming model: a new observation (B, 1, C) and the state -> the output (B, 1, C), state."""

    def __init__(self, net: nn.Module, channels: int) -> None:
        super().__init__()
        d = net.cfg.d_model
        self.embed, self.net, self.head = nn.Linear(channels, d), net, nn.Linear(d, channels)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, new = self.net(self.embed(x), tuple(state))  # (B, 1, D)
        return (self.head(h), *new)


def model_cfg(name: str, width: int) -> dict:
    extra = {"causal": True} if name == "transformer" else {}
    return {"name": name, "d_model": width, **extra}


def window_row(name: str, width: int, calls: int, out: Path) -> dict:
    cfg = build({"task": {"lookback": LOOKBACK, "horizon": HORIZON}, "model": model_cfg(name, width)})
    model = make_model(cfg, CHANNELS, list(range(CHANNELS)), 24).eval()
    columns = [f"c{i}" for i in range(CHANNELS)]  # what a run's task.json holds, for an identity scaler
    art = {"in_columns": columns, "out_columns": columns, "scaler": {"mean": [0.0] * CHANNELS, "std": [1.0] * CHANNELS}}
    graph = forecast_graphs(model, art)[0]
    manifest = export_graphs([graph], out, "auto")["graphs"]["window"]
    sess = session(out / "window.onnx", threads=1)
    x = torch.randn(1, LOOKBACK, CHANNELS)
    with torch.inference_mode():
        eager = median_ms(lambda: graph.module(x), calls)
    feed = {"x": x.numpy()}
    onnx = median_ms(lambda: sess.run(None, feed), calls)
    int8 = _int8_ratio(out / "window.onnx")
    return {"model": name, "exporter": manifest["exporter"], "parity": manifest["parity"]["second_shape"],
            "eager_ms": round(eager, 4), "onnx_ms": round(onnx, 4), "speedup": round(eager / onnx, 2),
            "int8_size_ratio": int8, "params": sum(p.numel() for p in model.parameters())}  # fmt: skip


def _int8_ratio(path: Path) -> float | None:
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    prepared, dst = path.with_suffix(".prep.onnx"), path.with_suffix(".int8.onnx")
    try:
        quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8)
    except Exception:  # noqa: BLE001 (recorded as no figure)
        return None
    return round(dst.stat().st_size / path.stat().st_size, 3)


def step_row(name: str, width: int, calls: int, out: Path) -> dict:
    cls = get_model(name)
    net = cls(cls.Config(d_model=width))
    module = StreamingStep(net, CHANNELS).eval()

    init = stepped(module, net.init_state, lambda b: torch.randn(b, 1, CHANNELS))
    graph = step_graph("step", module, "x", "y", lambda b: torch.randn(b, 1, CHANNELS), {0: "batch"}, init, "")
    manifest = export_graphs([graph], out, "auto")["graphs"]["step"]
    sess = session(out / "step.onnx", threads=1)
    state = init(1, 3)
    x = torch.randn(1, 1, CHANNELS)
    with torch.inference_mode():
        eager = median_ms(lambda: module(x, *state), calls)
    feed = {"x": x.numpy(), **{f"state_in_{i}": s.numpy() for i, s in enumerate(state)}}
    onnx = median_ms(lambda: sess.run(None, feed), calls)
    return {"model": name, "exporter": manifest["exporter"], "drift_100_steps": manifest["parity"]["drift"],
            "eager_step_ms": round(eager, 4), "onnx_step_ms": round(onnx, 4), "speedup": round(eager / onnx, 2),
            "state_tensors": len(state)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows, steps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in WINDOW:
            out = Path(tmp) / f"w-{name}"
            out.mkdir()
            rows.append(window_row(name, args.width, args.calls, out))
            print(json.dumps(rows[-1]), flush=True)
        for name in STEP:
            out = Path(tmp) / f"s-{name}"
            out.mkdir()
            steps.append(step_row(name, args.width, args.calls, out))
            print(json.dumps(steps[-1]), flush=True)
    result = {"benchmark": "deploy", "threads": torch.get_num_threads(), "ort_threads": 1, "calls": args.calls,
              "width": args.width, "window": rows, "step": steps, "torch": torch.__version__}  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
