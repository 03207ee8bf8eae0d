"""Model FLOPs utilisation of the Tiny Shakespeare Transformer (width 256, 4 layers, 4 heads, block 256, batch 32),
printed as JSON: seqarena's training run as it is, and the same run with PyTorch's attention
(F.scaled_dot_product_attention instead of seqarena's C++ kernel) as the reference, in one process.

Each figure is the run's own `throughput` from run.json: FLOPs per sample (torch's FlopCounterMode over one real
training step), achieved GFLOP/s at the median samples/s of the epochs, and `mfu` against the machine's fp32 GEMM
peak (`seqarena doctor`, measured once and cached). The host's speed drifts (on a shared 2-vCPU VM the peak read 354
and 426 GFLOP/s an hour apart), so the script measures the peak afresh first (`seqarena doctor --refresh`; the cache
keeps it) and the runs are set against a peak of the same minutes. Target: mfu >= 0.50.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/utilisation.py [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import seqarena
from seqarena import machine
from seqarena.models.kernels import native

TARGET = 0.50


def config(steps: int) -> dict:
    return {
        "task": {"name": "lm", "data": "tinyshakespeare", "tokenizer": "char", "block_size": 256},
        "model": {"name": "transformer", "d_model": 256, "num_layers": 4, "num_heads": 4, "dropout": 0.0,
                  "positions": "learned", "max_len": 256},
        "train": {"batch_size": 32, "max_steps": steps, "max_epochs": 100, "lr": 1e-3, "warmup_steps": 10,
                  "min_lr_ratio": 0.1, "beta2": 0.99, "weight_decay": 0.1, "clip_norm": 1.0, "patience": None,
                  "progress": False},
    }  # fmt: skip


def run(steps: int, out: Path) -> dict:
    result = seqarena.train(config(steps), out, log=lambda _: None)
    info = json.loads((out / "run.json").read_text())
    return {
        **info["throughput"],
        "kernels": info["kernels"],
        "matmul": info["environment"]["matmul"],
        "final_train_loss": result.history[-1]["train_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    peak = machine.facts(torch.device("cpu"), refresh=True)["gemm_fp32_gflops"]
    with tempfile.TemporaryDirectory() as tmp:
        seqarena_run = run(args.steps, Path(tmp) / "seqarena")
        with native.disabled("attention"):
            reference = run(args.steps, Path(tmp) / "sdpa")
    print(json.dumps({
        "benchmark": "utilisation",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": args.steps,
        "peak_gflops_measured_first": peak,
        "seqarena": seqarena_run,
        "reference_sdpa": reference,
        "speedup": round(seqarena_run["achieved_gflops"] / reference["achieved_gflops"], 3),
        "target": TARGET,
        "meets_target": seqarena_run["mfu"] is not None and seqarena_run["mfu"] >= TARGET,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
