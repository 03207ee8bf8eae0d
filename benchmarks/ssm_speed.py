"""Mamba against S4D: forward+backward time of one layer at batch 1, width 256, T = 4096 (and any --lengths),
medians over repeats in one process, the two measured in alternation so host drift hits both. Mamba runs its C++
kernels (the default on the CPU: the selective scan and the causal convolution) and, for reference, the PyTorch
block (sequential scan, nn.Conv1d). Prints JSON with the ratio to S4D
and whether it meets the target (<= 2.0).

    .venv/bin/python benchmarks/ssm_speed.py [--lengths 4096 --width 256 --reps 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from seqarena.models.kernels import native
from seqarena.models.mamba import Mamba, MambaConfig
from seqarena.models.s4d import S4D, S4DConfig

TARGET = 2.0


def step(model: torch.nn.Module, x: torch.Tensor) -> float:
    began = time.perf_counter()
    model(x)[0].sum().backward()
    return (time.perf_counter() - began) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="4096")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    native.load("selective_scan"), native.load("causal_conv")  # built before any timing
    cases = []
    for length in map(int, args.lengths.split(",")):
        torch.manual_seed(0)
        one = {"d_model": args.width, "num_layers": 1}
        models = {
            "s4d": S4D(S4DConfig(**one)),
            "mamba (C++ kernels)": Mamba(MambaConfig(**one)),
            "mamba (PyTorch)": Mamba(MambaConfig(scan="sequential", **one)),
        }
        x = torch.randn(1, length, args.width, requires_grad=True)
        samples: dict[str, list[float]] = {name: [] for name in models}
        for model in models.values():  # warm-up
            step(model, x)
        for _ in range(args.reps):
            for name, model in models.items():
                samples[name].append(step(model, x))
        ms = {name: statistics.median(v) for name, v in samples.items()}
        ratios = {name: round(ms[name] / ms["s4d"], 2) for name in ms if name != "s4d"}
        cases.append({
            "length": length, "width": args.width, "batch": 1, "fwd_bwd_ms": {k: round(v, 1) for k, v in ms.items()},
            "ratio_vs_s4d": ratios, "meets_target": ratios["mamba (C++ kernels)"] <= TARGET,
        })  # fmt: skip
    print(json.dumps({
        "benchmark": "ssm_speed", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "native_kernels": {k: native.status(k) for k in ("selective_scan", "causal_conv")},
        "target": TARGET, "cases": cases,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
