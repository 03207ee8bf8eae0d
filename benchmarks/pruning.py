"""Structured pruning (`train.prune`): a trained LSTM forecaster on ETTh1 (M, 96 -> 96) loses a share of every
layer's hidden units, is scored as cut, then fine-tuned for a few epochs; the control is the same smaller model
(`model.units`) trained from scratch for as many epochs as the dense model and the fine-tuning together. Prints
JSON: parameters, safetensors bytes, batch-1 latency (median of repeated calls on one thread, in this process),
test MSE, mean and spread over seeds.

    .venv/bin/python benchmarks/pruning.py [--data ETTh1] [--width 128] [--epochs 6] [--tune 2]
        [--amounts 0.5,0.75] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

import seqarena
from seqarena.models.base import count_params
from seqarena.profile import timed
from seqarena.training.prune import prune


def config(args: argparse.Namespace, seed: int, epochs: int, model: dict | None = None, extra: dict | None = None):
    return {
        "task": {"name": "forecast", "data": args.data, "features": "M", "lookback": 96, "horizon": 96},
        "model": {"name": "lstm", "d_model": args.width, "num_layers": 2, **(model or {})},
        "train": {"max_epochs": epochs, "batch_size": 32, "lr": 1e-3, "patience": None, "seed": seed,
                  "progress": False, **(extra or {})},
    }  # fmt: skip


@torch.inference_mode()
def latency_ms(model: torch.nn.Module) -> float:
    model.eval()
    x = torch.randn(1, 96, model.spec.channels)  # (1, L, C) one lookback window
    return timed(lambda: model(x), 50)["median_ms"]


def measure(model: torch.nn.Module, task: Any, run_dir: Path | None) -> dict[str, Any]:
    mse = task.evaluate(model, "test", 256, torch.device("cpu"))["mse"]
    size = (run_dir / "model.safetensors").stat().st_size if run_dir else None
    return {"params": count_params(model), "bytes": size, "latency_b1_ms": latency_ms(model), "test_mse": mse}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if any(v is None for v in values):
            out[key] = None
            continue
        out[key] = round(statistics.mean(values), 4)
        if key in ("test_mse", "latency_b1_ms") and len(values) > 1:
            out[f"{key}_std"] = round(statistics.stdev(values), 4)
            out[f"{key}_per_seed"] = [round(v, 4) for v in values]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="ETTh1")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tune", type=int, default=2)
    parser.add_argument("--amounts", default="0.5,0.75")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    amounts = [float(a) for a in args.amounts.split(",")]
    root, quiet = Path(tempfile.mkdtemp(prefix="pruning-")), {"log": lambda _: None}
    rows: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        dense_dir = root / f"dense-{seed}"
        dense = seqarena.train(config(args, seed, args.epochs), dense_dir, **quiet)
        rows.setdefault("dense", []).append(measure(dense.model, dense.task, dense_dir))
        for amount in amounts:
            cut = seqarena.load(dense_dir)
            pruned_cfg, _ = prune(cut.model, amount)
            rows.setdefault(f"pruned {amount:.0%}, not fine-tuned", []).append(measure(cut.model, dense.task, None))
            tuned_dir = root / f"tuned-{amount}-{seed}"
            tuned = seqarena.train(config(args, seed, args.tune, extra={"init": str(dense_dir), "prune": amount}),
                                   tuned_dir, **quiet)  # fmt: skip
            rows.setdefault(f"pruned {amount:.0%} + {args.tune} epochs fine-tuning", []).append(
                measure(tuned.model, tuned.task, tuned_dir))  # fmt: skip
            small_dir = root / f"small-{amount}-{seed}"
            small = seqarena.train(config(args, seed, args.epochs + args.tune, model={"units": pruned_cfg.units}),
                                   small_dir, **quiet)  # fmt: skip
            rows.setdefault(f"{pruned_cfg.units} units from scratch, {args.epochs + args.tune} epochs", []).append(
                measure(small.model, small.task, small_dir))  # fmt: skip
        print(json.dumps({"seed": seed, "done": list(rows)}), flush=True)
    results = {label: summary(r) for label, r in rows.items()}
    print(json.dumps({"benchmark": "pruning", "data": args.data, "model": f"lstm {args.width} x 2", "epochs":
                      args.epochs, "fine_tune_epochs": args.tune, "seeds": seeds, "threads": torch.get_num_threads(),
                      "latency_threads": 1, "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
