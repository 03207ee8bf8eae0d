"""Claims about cost: training speed and memory of RNN, LSTM and Transformer at equal parameters, attention's
quadratic memory (naive and SDPA), the cost of one streamed step (a recurrent state against a KV cache) and what
int8 quantisation does to each family."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqarena.claims import measure
from seqarena.claims.base import Figure, Finding, claim

FAMILIES = ("rnn", "lstm", "transformer")


def _backbone(name: str, params: int, **extra: Any) -> torch.nn.Module:
    from seqarena.registry import get_model
    from seqarena.sizing import match_width

    cls = get_model(name)
    cfg = match_width(cls.Config(**extra), lambda c: cls(c), params)
    return cls(cfg)


def _device() -> list[torch.device]:
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def _samples_per_s(model: torch.nn.Module, batch: int, length: int, device: torch.device, reps: int) -> float:
    model = model.to(device).train()
    x = torch.randn(batch, length, model.cfg.d_model, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(x)[0].pow(2).mean().backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return batch / float(np.median(times))


_EQUAL = {  # the backbones' size and the (batch, length) of the training steps
    "tiny": {"params": 5_000, "reps": 2, "batch": 4, "length": 16},
    "quick": {"params": 200_000, "reps": 20, "batch": 32, "length": 96},
    "full": {"params": 1_000_000, "reps": 50, "batch": 32, "length": 256},
}


@claim(
    "training_speed_order",
    statement="At equal size an RNN trains fastest, then an LSTM, then a Transformer (e.g. 1,200 / 850 / 650 "
    "samples/s).",
    source="RNN vs LSTM vs Transformer comparison tables in tutorial articles",
    experiment="rnn, lstm and transformer backbones sized to the same parameter count; AdamW training steps on "
    "random (batch, length, width) inputs; median samples/s over repeated steps, on this machine's CPU threads "
    "(and on CUDA when present)",
    sizes=_EQUAL,
)
def training_speed_order(sizes: dict[str, Any], work: Path) -> Finding:
    batch, length = sizes["batch"], sizes["length"]
    figures, orders = [], []
    for device in _device():
        speed = {
            m: _samples_per_s(_backbone(m, sizes["params"]), batch, length, device, sizes["reps"]) for m in FAMILIES
        }
        figures += [
            Figure(f"{m} on {device.type} ({torch.get_num_threads()} threads)", s, None, "samples/s")
            for m, s in speed.items()
        ]
        orders.append((device.type, sorted(speed, key=speed.get, reverse=True), speed))
    said = "; ".join(f"{d}: " + " > ".join(f"{m} {s[m]:,.0f}" for m in order) for d, order, s in orders)
    held = [order == list(FAMILIES) for _, order, _ in orders]
    verdict = "holds" if all(held) else "refuted" if not any(held) else "depends"
    return Finding(
        verdict, f"samples/s at equal parameters, {said}" + ("" if len(held) == 1 else ", by device"), figures
    )


@claim(
    "memory_order",
    statement="An RNN needs the least training memory, an LSTM more and a Transformer the most (e.g. 2.1 / 3.8 / 6.4 "
    "GB).",
    source="RNN vs LSTM vs Transformer comparison tables in tutorial articles",
    experiment="the same equal-parameter backbones and inputs as training_speed_order; a training step's memory "
    "counted exactly: weights, gradients and AdamW moments plus the activations autograd keeps for backward",
    sizes=_EQUAL,
)
def memory_order(sizes: dict[str, Any], work: Path) -> Finding:
    batch, length = sizes["batch"], sizes["length"]
    from seqarena.profile import training_step_mb

    mb = {}
    for m in FAMILIES:
        model = _backbone(m, sizes["params"])
        mb[m] = training_step_mb(model, torch.randn(batch, length, model.cfg.d_model))
    order = sorted(mb, key=mb.get)
    figures = [Figure(f"{m}: training step memory", v, None, "MB") for m, v in mb.items()]
    said = " < ".join(f"{m} {mb[m]:.1f} MB" for m in order) + f" (batch {batch}, length {length})"
    return Finding("holds" if order == list(FAMILIES) else "refuted", said, figures)


def _naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # (B, h, n, n): the quadratic tensor
    return torch.softmax(scores, dim=-1) @ v


def _slope(xs: list[int], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


@claim(
    "attention_memory_quadratic",
    statement="Attention's memory grows with the square of the sequence length.",
    source="Transformer explainers and the efficient-attention literature ('O(n^2) memory')",
    experiment="one attention layer (4 heads of 32) in training: the activation memory autograd keeps, for naive "
    "softmax(QK^T)V and for F.scaled_dot_product_attention, at growing lengths; the log-log slope (2 = quadratic, "
    "1 = linear) of memory and of time",
    sizes={
        "tiny": {"lengths": [32, 64]},
        "quick": {"lengths": [256, 512, 1024, 2048]},
        "full": {"lengths": [256, 512, 1024, 2048, 4096, 8192]},
    },
)
def attention_memory(sizes: dict[str, Any], work: Path) -> Finding:
    lengths = sizes["lengths"]
    mem: dict[str, list[float]] = {"naive": [], "sdpa": []}
    secs: dict[str, list[float]] = {"naive": [], "sdpa": []}
    for n in lengths:
        q, k, v = (torch.randn(1, 4, n, 32, requires_grad=True) for _ in range(3))
        for name, fn in (("naive", _naive), ("sdpa", F.scaled_dot_product_attention)):
            mem[name].append(measure.saved_bytes(lambda fn=fn, q=q, k=k, v=v: fn(q, k, v)) / 2**20)
            started = time.perf_counter()
            fn(q, k, v).sum().backward()
            secs[name].append(time.perf_counter() - started)
    slopes = {name: _slope(lengths, mem[name]) for name in mem}
    figures = [Figure(f"{name}: memory slope (log-log)", s) for name, s in slopes.items()]
    figures += [Figure(f"{name}: memory at {lengths[-1]}", mem[name][-1], None, "MB") for name in mem]
    figures.append(Figure("sdpa: time slope (log-log)", _slope(lengths, secs["sdpa"])))
    rows = [[n, f"{mem['naive'][i]:.1f}", f"{mem['sdpa'][i]:.2f}"] for i, n in enumerate(lengths)]
    said = (
        f"log-log slope of training memory against length: naive {slopes['naive']:.2f}, SDPA "
        f"{slopes['sdpa']:.2f} (time, SDPA: {_slope(lengths, secs['sdpa']):.2f})"
    )
    if slopes["naive"] > 1.7 and slopes["sdpa"] < 1.3:
        verdict, why = (
            "depends",
            ": quadratic for the textbook formula, linear with a fused kernel; time stays quadratic",
        )
    elif slopes["sdpa"] > 1.7:
        verdict, why = "holds", ": quadratic even with the fused kernel"
    else:
        verdict, why = "refuted", ": neither grows quadratically at these lengths"
    said += why
    return Finding(verdict, said, figures, {"columns": ["length", "naive MB", "SDPA MB"], "rows": rows})


@claim(
    "streaming_step_cost",
    statement="For streaming, an RNN's cost per new step stays constant while a Transformer's grows with the "
    "context, even with a KV cache.",
    source="articles recommending RNNs for real-time and on-device inference",
    experiment="an LSTM and a causal Transformer of equal size; the time of one new step at batch 1, one thread, "
    "after contexts of growing length (the LSTM's state; the Transformer's KV cache)",
    sizes={
        "tiny": {"contexts": [8, 32], "reps": 3, "params": 5_000},
        "quick": {"contexts": [64, 512, 2048], "reps": 200, "params": 200_000},
        "full": {"contexts": [64, 512, 2048, 4096], "reps": 500, "params": 1_000_000},
    },
)
def streaming_step_cost(sizes: dict[str, Any], work: Path) -> Finding:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ms = {}
        for name, extra in (("lstm", {}), ("transformer", {"causal": True})):
            model = _backbone(name, sizes["params"], **extra).eval()
            d, per = model.cfg.d_model, []
            with torch.inference_mode():
                for n in sizes["contexts"]:
                    _, state = model(torch.randn(1, n, d), model.init_state(1))
                    step = torch.randn(1, 1, d)
                    per.append(measure_ms(lambda m=model, s=state, x=step: m(x, s), sizes["reps"]))
            ms[name] = per
    finally:
        torch.set_num_threads(threads)
    first, last = sizes["contexts"][0], sizes["contexts"][-1]
    growth = {m: v[-1] / v[0] for m, v in ms.items()}
    figures = [
        Figure(f"{m}: ms per step after {n}", v[i], None, "ms")
        for m, v in ms.items()
        for i, n in enumerate(sizes["contexts"])
    ]
    said = (
        f"from a context of {first} to {last}: LSTM step {ms['lstm'][0]:.3f} -> {ms['lstm'][-1]:.3f} ms, "
        f"Transformer {ms['transformer'][0]:.3f} -> {ms['transformer'][-1]:.3f} ms"
    )
    if growth["lstm"] < 1.3 and growth["transformer"] > 1.5:
        return Finding("holds", said, figures)
    return Finding("depends", said + ": at this size the per-step overhead hides the context", figures)


def measure_ms(fn: Any, reps: int) -> float:
    from seqarena.profile import timed

    return timed(fn, reps)["median_ms"]


@claim(
    "int8_hurts_rnns_less",
    statement="int8 quantisation hurts recurrent networks less than Transformers.",
    source="deployment articles on quantising sequence models",
    experiment="an LSTM and a Transformer forecaster trained on seqarena's synthetic series; ONNX export and "
    "ONNX Runtime dynamic int8 (seqarena quantize); the relative change of test MSE under int8, over seeds "
    "(needs seqarena[deploy])",
    sizes={
        "tiny": {"seeds": [0], "epochs": 1, "length": 400},
        "quick": {"seeds": [0, 1], "epochs": 5, "length": 3000},
        "full": {"seeds": [0, 1, 2], "epochs": 15, "length": 6000},
    },
)
def int8_hurts_rnns_less(sizes: dict[str, Any], work: Path) -> Finding:
    try:
        from seqarena.deploy import need

        need("onnx", "onnxruntime")
    except Exception as exc:  # noqa: BLE001 - an extra that is not installed
        return Finding("pending", f"{exc}")
    from seqarena.deploy.export import export
    from seqarena.deploy.quantize import quantize

    change: dict[str, list[float]] = {}
    for name in ("lstm", "transformer"):
        task = {
            "name": "forecast",
            "data": "synthetic",
            "data_args": {"length": sizes["length"], "channels": 1},
            "lookback": 48,
            "horizon": 12,
        }
        raw = {"task": task, "model": {"name": name, "params": 30_000}, "train": {"max_epochs": sizes["epochs"]}}
        for run in measure.seeded(raw, sizes["seeds"], work / "int8"):
            if "error" in run:
                continue
            export(run["run_dir"])
            m = quantize(run["run_dir"], calls=20)["metric"]
            change.setdefault(name, []).append(abs(m["change"]) / m["fp32"])
    figures = [measure.figure(f"{m}: |int8 - fp32| / fp32 test MSE", v) for m, v in change.items()]
    rnn, tf = float(np.mean(change["lstm"])), float(np.mean(change["transformer"]))
    said = f"test MSE changes by {rnn:.2%} (LSTM) and {tf:.2%} (Transformer) under int8"
    if max(rnn, tf) < 0.01:
        return Finding("depends", said + ": both below 1%, so int8 is safe for either at this size", figures)
    return Finding("holds" if rnn < tf else "refuted", said, figures)
