"""Warm start and progressive unfreezing: a GRU pretrained on one series (ETTh1) fine-tuned on another (ETTh2)
for a few epochs, from scratch, warm-started (`train.init`), and warm-started with its recurrent layers frozen for
the first epoch (`train.unfreeze=[net]`), same seeds. Prints JSON: test MSE and MAE, mean and spread over seeds.

    .venv/bin/python benchmarks/transfer.py [--source ETTh1] [--target ETTh2] [--epochs 3] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import seqarena
from seeds import over_seeds  # benchmarks/seeds.py


def config(data: str, seed: int, epochs: int, extra: dict | None = None) -> dict:
    return {
        "task": {"name": "forecast", "data": data, "features": "M", "lookback": 96, "horizon": 96},
        "model": {"name": "gru", "d_model": 32},
        "train": {"max_epochs": epochs, "batch_size": 32, "lr": 1e-3, "patience": None, "seed": seed,
                  "progress": False, **(extra or {})},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="ETTh1")
    parser.add_argument("--target", default="ETTh2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root, quiet = Path(tempfile.mkdtemp(prefix="transfer-")), {"log": lambda _: None}
    source = seqarena.train(config(args.source, 0, 10), root / "source", **quiet)
    cases = {
        "from scratch": {},
        "warm start": {"init": str(root / "source")},
        "warm start, recurrent layers frozen for epoch 1": {"init": str(root / "source"), "unfreeze": ["net"]},
    }
    results = {"source run on its own test split": {"test_mse": round(source.results["test"]["mse"], 4)}}
    for case, (label, extra) in enumerate(cases.items()):
        runs = [seqarena.train(config(args.target, s, args.epochs, extra), root / f"case{case}-seed{s}", **quiet)
                for s in seeds]  # fmt: skip
        results[label] = row = over_seeds(runs, ("mse", "mae"))
        print(json.dumps({label: row}), flush=True)
    print(json.dumps({"benchmark": "transfer", "source": args.source, "target": args.target, "epochs": args.epochs,
                      "seeds": seeds, "threads": torch.get_num_threads(), "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
