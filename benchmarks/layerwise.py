"""Greedy layer-wise pretraining: a deep GRU forecaster grown one layer at a time, each stage warm-started from
the one before (`train.init`: the layers it shares by name and shape are copied, the new top layer starts fresh),
against the same deep model trained from scratch for the same total number of epochs, same seeds. ETTh1, all 7
variables, 96 -> 96. Prints JSON: test MSE and MAE, mean and spread over seeds, with the thread count.

    .venv/bin/python benchmarks/layerwise.py [--layers 2] [--epochs 2] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import seqarena
from seeds import over_seeds  # benchmarks/seeds.py


def config(layers: int, seed: int, epochs: int, init: Path | None = None) -> dict:
    return {
        "task": {"name": "forecast", "data": "ETTh1", "features": "M", "lookback": 96, "horizon": 96},
        "model": {"name": "gru", "d_model": 32, "num_layers": layers},
        "train": {"max_epochs": epochs, "batch_size": 32, "lr": 1e-3, "patience": None, "seed": seed,
                  "progress": False, **({"init": str(init)} if init else {})},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per stage; from scratch gets layers x epochs")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root, quiet = Path(tempfile.mkdtemp(prefix="layerwise-")), {"log": lambda _: None}
    runs: dict[str, list] = {"from scratch": [], "layer-wise": []}
    for seed in seeds:
        total = args.layers * args.epochs
        runs["from scratch"].append(seqarena.train(config(args.layers, seed, total), root / f"scratch-{seed}", **quiet))
        previous = None
        for depth in range(1, args.layers + 1):
            out = root / f"layerwise-{seed}-{depth}"
            run = seqarena.train(config(depth, seed, args.epochs, previous), out, **quiet)
            previous = out
        runs["layer-wise"].append(run)
    results = {}
    for label, done in runs.items():
        results[label] = over_seeds(done, ("mse", "mae"))
    print(json.dumps({"benchmark": "layerwise", "layers": args.layers, "epochs_per_stage": args.epochs,
                      "seeds": seeds, "threads": torch.get_num_threads(), "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
