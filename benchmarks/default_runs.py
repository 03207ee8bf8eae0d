"""A new user's first run: `seqarena train --task classify --data D --model M` with no other option, for the
recurrent and attention families on the two small UCR sets (official splits; validation is carved from the
training cases, test is looked at once at the end). Prints one JSON line per run and a summary.

    python benchmarks/default_runs.py                      # GunPoint and ItalyPowerDemand x gru, lstm, transformer
    python benchmarks/default_runs.py --seeds 0 1 2 --datasets ItalyPowerDemand
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import seqarena


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "ItalyPowerDemand"])
    parser.add_argument("--models", nargs="+", default=["gru", "lstm", "transformer"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.datasets:
            for model in args.models:
                for seed in args.seeds:
                    cfg = {"task": {"name": "classify", "data": data}, "model": {"name": model}}
                    sets = [f"train.seed={seed}", "train.progress=false"]  # the seed; no bar in a log file
                    started = time.perf_counter()
                    result = seqarena.train(cfg, Path(tmp) / f"{data}-{model}-{seed}", overrides=sets)
                    train = result.config.train
                    row = {"data": data, "model": model, "seed": seed,
                           "test_accuracy": round(result.results["test"]["accuracy"], 4),
                           "val_accuracy": round(result.results["val"]["accuracy"], 4),
                           "best_epoch": result.training["best_epoch"], "epochs": train.max_epochs,
                           "batch_size": train.batch_size, "pooling": result.config.task.pooling,
                           "params": result.params, "seconds": round(time.perf_counter() - started, 1),
                           "threads": torch.get_num_threads()}  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    worst = min(rows, key=lambda r: r["test_accuracy"])
    print(json.dumps({"runs": len(rows), "at_least_0.95": sum(r["test_accuracy"] >= 0.95 for r in rows),
                      "worst": {k: worst[k] for k in ("data", "model", "seed", "test_accuracy")}}))  # fmt: skip


if __name__ == "__main__":
    main()
