"""The recurrent zoo against the fused nn.LSTM: forward+backward time of one layer at batch 32, T in {96, 1024},
width in {64, 256}, medians over repeats, every model in the same process and measured in alternation. Compares
the GRU through seqarena's kernel (C++ loop; Python loop) with nn.GRU, and the custom-cell LSTM variants (C++ loop;
autograd loop). Prints JSON with each ratio to the fused LSTM and whether it meets its target (GRU <= 1.3, custom
cells <= 2.0).

    .venv/bin/python benchmarks/recurrent_speed.py [--batch 32 --steps 96,1024 --widths 64,256 --reps 7]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable

import torch

from seqarena.models.kernels import native
from seqarena.models.lstm_variants import CellLSTMConfig, LayerNormLSTM, LayerNormLSTMConfig, PeepholeLSTM
from seqarena.models.rnn import GRU, LSTM, GRUConfig, RecurrentConfig

TARGETS = {"gru": 1.3, "peephole_lstm": 2.0, "layernorm_lstm": 2.0}


def models(width: int) -> dict[str, Callable[[], torch.nn.Module]]:
    one = {"d_model": width, "num_layers": 1}
    return {
        "lstm (fused)": lambda: LSTM(RecurrentConfig(**one)),
        "gru": lambda: GRU(GRUConfig(kernel="seqarena", **one)),
        "gru (python loop)": lambda: GRU(GRUConfig(kernel="seqarena", **one)),
        "gru (nn.GRU)": lambda: GRU(GRUConfig(kernel="torch", **one)),
        "peephole_lstm": lambda: PeepholeLSTM(CellLSTMConfig(**one)),
        "layernorm_lstm": lambda: LayerNormLSTM(LayerNormLSTMConfig(**one)),
        "peephole_lstm (autograd loop)": lambda: PeepholeLSTM(CellLSTMConfig(kernel="torch", **one)),
        "layernorm_lstm (autograd loop)": lambda: LayerNormLSTM(LayerNormLSTMConfig(kernel="torch", **one)),
    }


def step(name: str, model: torch.nn.Module, x: torch.Tensor) -> float:
    """One forward+backward in ms; the "(python loop)" GRU runs with the C++ kernel turned off (no compiler)."""
    with native.disabled("gru") if name.endswith("(python loop)") else contextlib.nullcontext():
        began = time.perf_counter()
        model(x)[0].sum().backward()
        return (time.perf_counter() - began) * 1e3


def measure(width: int, x: torch.Tensor, reps: int) -> dict[str, float]:
    """Median ms of every model, measured in alternation (one step of each per round) so that drift of the host
    hits all of them alike and the ratios hold even where the absolute times wander."""
    built = {name: make() for name, make in models(width).items()}
    for name, model in built.items():  # warm-up
        for _ in range(2):
            step(name, model, x)
    samples: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(reps):
        for name, model in built.items():
            samples[name].append(step(name, model, x))
    return {name: statistics.median(v) for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", default="96,1024")
    parser.add_argument("--widths", default="64,256")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    native.load("gru"), native.load("lstm_cells")  # built before any timing
    cases = []
    for steps in map(int, args.steps.split(",")):
        for width in map(int, args.widths.split(",")):
            torch.manual_seed(0)
            x = torch.randn(args.batch, steps, width, requires_grad=True)
            reps = args.reps if steps * width <= 96 * 256 else max(3, args.reps // 2)
            ms = measure(width, x, reps)
            base = ms["lstm (fused)"]
            ratios = {k: round(v / base, 2) for k, v in ms.items() if k != "lstm (fused)"}
            meets = {k: ratios[k] <= t for k, t in TARGETS.items() if t is not None}
            cases.append({
                "batch": args.batch, "steps": steps, "width": width,
                "fwd_bwd_ms": {k: round(v, 2) for k, v in ms.items()}, "ratio_vs_fused_lstm": ratios,
                "meets_target": meets,
            })  # fmt: skip
            print(json.dumps(cases[-1]), flush=True)
    report = {
        "benchmark": "recurrent_speed", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "native_kernels": {k: native.status(k) for k in ("gru", "lstm_cells")},
        "onednn_steps_from_width": native.ONEDNN_WIDTH if native.onednn_steps(native.ONEDNN_WIDTH) else None,
        "targets": {k: t for k, t in TARGETS.items() if t}, "cases": cases,
        "all_met": all(all(c["meets_target"].values()) for c in cases),
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
