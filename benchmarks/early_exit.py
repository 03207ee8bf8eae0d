"""Early exit (`task.exits`): a Transformer classifier with an exit after each of its layers, on sequential MNIST by
rows (28 steps of 28 pixels), scored at several exit thresholds against the same Transformer trained without
exits. Prints JSON: test accuracy, mean layers run, and the time to classify test sequences one at a time (batch 1)
and in batches of 256, on one thread, in this process (the median of 5 passes); mean and spread over seeds.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/early_exit.py [--data smnist-rows] [--layers 4]
        [--width 64] [--epochs 4] [--thresholds 0.5,0.8,0.9,0.95,0.99,1] [--seeds 0,1] [--timed 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import seqarena
from seqarena.profile import threads
from seqarena.tasks.classify_model import collate

PASSES = 5  # timed passes over the sequences; the median is reported


def config(args: argparse.Namespace, seed: int, exits: bool) -> dict:
    return {
        "task": {"name": "classify", "data": args.data, "exits": exits},
        "model": {"name": "transformer", "d_model": args.width, "num_layers": args.layers},
        "train": {"max_epochs": args.epochs, "batch_size": 64, "lr": 1e-3, "patience": None, "seed": seed,
                  "progress": False},
    }  # fmt: skip


@torch.inference_mode()
def ms_per_sequence(model: torch.nn.Module, xs: list[torch.Tensor], batch: int) -> float:
    model.eval()
    batches = [collate(xs[i : i + batch]) for i in range(0, len(xs), batch)]
    passes = []
    with threads(1):
        model(*batches[0])  # warm-up
        for _ in range(PASSES):
            began = time.perf_counter()
            for x, mask in batches:
                model(x, mask)
            passes.append(1000 * (time.perf_counter() - began) / len(xs))
    return statistics.median(passes)


def measure(model: torch.nn.Module, task: Any, timed: int) -> dict[str, Any]:
    test = task.evaluate(model, "test", 256, torch.device("cpu"))
    xs = task.x["test"]
    return {
        "accuracy": test["accuracy"],
        "depth": test["exits"]["depth"] if "exits" in test else float(model.net.stages()),
        "ms_per_sequence_b1": ms_per_sequence(model, xs[:timed], 1),
        "ms_per_sequence_b256": ms_per_sequence(model, xs, 256),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="smnist-rows")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--thresholds", default="0.5,0.8,0.9,0.95,0.99,1")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--timed", type=int, default=1000, help="test sequences timed at batch 1")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root, quiet = Path(tempfile.mkdtemp(prefix="early-exit-")), {"log": lambda _: None}
    rows: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        plain = seqarena.train(config(args, seed, False), root / f"plain-{seed}", **quiet)
        rows.setdefault("no exits", []).append(measure(plain.model, plain.task, args.timed))
        exits = seqarena.train(config(args, seed, True), root / f"exits-{seed}", **quiet)
        for threshold in (float(t) for t in args.thresholds.split(",")):
            exits.model.threshold = threshold
            rows.setdefault(f"exits, threshold {threshold:g}", []).append(measure(exits.model, exits.task, args.timed))
        print(json.dumps({"seed": seed, "done": list(rows)}), flush=True)
    results = {}
    for label, runs in rows.items():
        row = {}
        for key in runs[0]:
            values = [r[key] for r in runs]
            row[key] = round(statistics.mean(values), 4)
            if len(values) > 1:
                row[f"{key}_std"] = round(statistics.stdev(values), 4)
        results[label] = row
    print(json.dumps({"benchmark": "early_exit", "data": args.data, "model": f"transformer {args.width} x "
                      f"{args.layers}", "epochs": args.epochs, "seeds": seeds, "threads": torch.get_num_threads(),
                      "timing_threads": 1, "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
