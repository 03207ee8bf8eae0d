"""Irregular time: does feeding the time gaps help? GRU-D, ODE-RNN and a GRU, each with the gaps (`task.gaps=on`) and
without (`off`), and the last-value baseline, on the synthetic series sampled at uneven times. It reports test MSE
on the scaled values, mean and spread over seeds, as JSON.

    .venv/bin/python benchmarks/irregular.py [--irregular 0.5] [--horizon 4] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import seqarena


def config(model: dict, gaps: str, irregular: float, horizon: int, seed: int) -> dict:
    return {
        "task": {"data": "synthetic", "data_args": {"length": 1500, "channels": 2, "irregular": irregular,
                 "noise": 0.05}, "lookback": 48, "horizon": horizon, "gaps": gaps},
        "model": model,
        "train": {"max_epochs": 6, "batch_size": 16, "lr": 1e-2, "progress": False, "patience": None, "seed": seed},
        "eval": {"batch_size": 64},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--irregular", type=float, default=0.5, help="log-normal sigma of the gaps")
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root = Path(tempfile.mkdtemp(prefix="irregular-"))
    cases = {
        "last_value": ({"name": "last_value"}, "off"),
        "grud (gaps on)": ({"name": "grud", "d_model": 32}, "on"),
        "grud (gaps off)": ({"name": "grud", "d_model": 32}, "off"),
        "ode_rnn (gaps on)": ({"name": "ode_rnn", "d_model": 32}, "on"),
        "ode_rnn (gaps off)": ({"name": "ode_rnn", "d_model": 32}, "off"),
        "gru (gap as a feature)": ({"name": "gru", "d_model": 32}, "on"),
        "gru (gaps off)": ({"name": "gru", "d_model": 32}, "off"),
    }
    results = {}
    for label, (model, gaps) in cases.items():
        mses = []
        for seed in seeds:
            cfg = config(model, gaps, args.irregular, args.horizon, seed)
            run = seqarena.train(cfg, root / f"{model['name']}-{gaps}-{seed}", log=lambda _: None)
            mses.append(run.results["test"]["mse"])
        results[label] = {"test_mse_mean": round(statistics.mean(mses), 4),
                          "test_mse_std": round(statistics.stdev(mses), 4) if len(mses) > 1 else None,
                          "per_seed": [round(m, 4) for m in mses]}  # fmt: skip
        print(json.dumps({label: results[label]}), flush=True)
    report = {"benchmark": "irregular", "irregular_sigma": args.irregular, "horizon": args.horizon, "seeds": seeds,
              "threads": torch.get_num_threads(), "results": results}  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
