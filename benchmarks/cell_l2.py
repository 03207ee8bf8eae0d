"""L2 on the LSTM cell state (`model.cell_l2`): a peephole LSTM forecasting ETTh1 (multivariate, lookback 96,
horizon 96) trained without the penalty and with it at the given strengths, same seeds. Prints JSON: test MSE and
MAE, the mean squared cell state on test windows, and training seconds (the penalised runs use the autograd loop,
the C++ loop does not expose the cell states), mean over seeds, with the thread count.

    .venv/bin/python benchmarks/cell_l2.py [--strengths 0,0.001,0.01] [--epochs 3] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import seqarena


def config(seed: int, epochs: int, strength: float) -> dict:
    return {
        "task": {"name": "forecast", "data": "ETTh1", "features": "M", "lookback": 96, "horizon": 96},
        "model": {"name": "peephole_lstm", "d_model": 32, "cell_l2": strength},
        "train": {"max_epochs": epochs, "batch_size": 32, "lr": 1e-3, "patience": None, "seed": seed,
                  "progress": False},
    }  # fmt: skip


def cell_size(run: object) -> float:
    """Mean squared cell state of every layer over 256 windows of standard-normal inputs to the recurrent stack."""
    net = run.model.net
    x = torch.randn(256, 96, net.cfg.d_model, generator=torch.Generator().manual_seed(0))
    cells: list = []
    with torch.no_grad():
        h0 = torch.zeros(256, net.cfg.d_model)
        for layer in net.layers:
            x, _, _ = layer(x, h0, h0.clone(), cells)
    return float(torch.stack(cells).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strengths", default="0,0.001,0.01")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root, quiet = Path(tempfile.mkdtemp(prefix="cell-l2-")), {"log": lambda _: None}
    results = {}
    for strength in [float(s) for s in args.strengths.split(",")]:
        rows = []
        for seed in seeds:
            run = seqarena.train(config(seed, args.epochs, strength), root / f"l2-{strength}-seed{seed}", **quiet)
            test = run.results["test"]
            rows.append({"test_mse": round(test["mse"], 4), "test_mae": round(test["mae"], 4),
                         "cell_sq": round(cell_size(run), 4),
                         "train_seconds": round(run.training["train_seconds"], 1)})  # fmt: skip
        row = {k: round(statistics.mean(r[k] for r in rows), 4) for k in rows[0]}
        row["per_seed"] = rows
        results[f"cell_l2={strength}"] = row
        print(json.dumps({f"cell_l2={strength}": row}), flush=True)
    print(json.dumps({"benchmark": "cell_l2", "epochs": args.epochs, "seeds": seeds,
                      "threads": torch.get_num_threads(), "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
