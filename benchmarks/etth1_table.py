"""Train the core models and the baselines on ETTh1 (lookback 96, horizon 96, features M) with seqarena's
defaults, one seed, and print one JSON object per model plus a Markdown table for the README.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/etth1_table.py [--models a,b] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import seqarena

MODELS = "last_value,seasonal_naive,linear,rnn,gru,lstm,transformer"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--out", default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="etth1-"))
    rows = []
    for name in args.models.split(","):
        started = time.perf_counter()
        result = seqarena.train(
            {"task": {"data": "ETTh1"}, "model": {"name": name}, "train": {"progress": False}},
            root / name,
            overrides=args.overrides,
            log=lambda _: None,
        )
        test = result.results["test"]
        row = {
            "model": name,
            "params": result.params,
            "test_mse": round(test["mse"], 4),
            "test_mae": round(test["mae"], 4),
            "epochs": len(result.history),
            "train_seconds": round(sum(h["seconds"] for h in result.history), 1),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| model | params | test MSE | test MAE | epochs | training time (s) |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['params']:,} | {r['test_mse']:.3f} | {r['test_mae']:.3f} | {r['epochs']} | "
            f"{r['train_seconds']} |"
        )


if __name__ == "__main__":
    main()
