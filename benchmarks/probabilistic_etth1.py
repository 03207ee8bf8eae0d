"""Probabilistic forecasts on ETTh1 (features S, target OT, 96 -> 96, the defaults otherwise): seasonal naive and a
point LSTM with conformal intervals, quantile / normal / Student-t LSTMs with and without conformal calibration.
Prints JSON: per entry the test CRPS, the coverage of the 50/80/90% intervals, MSIS, MSE and MASE.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/probabilistic_etth1.py --out /tmp/prob-etth1
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

import seqarena

ENTRIES = {  # label -> (model, task options)
    "seasonal_naive (conformal)": ("seasonal_naive", {}),
    "lstm point (conformal)": ("lstm", {}),
    "lstm quantile (conformal)": ("lstm", {"distribution": "quantile"}),
    "lstm quantile (raw)": ("lstm", {"distribution": "quantile", "conformal": False}),
    "lstm normal (raw)": ("lstm", {"distribution": "normal", "conformal": False}),
    "lstm student_t (raw)": ("lstm", {"distribution": "student_t", "conformal": False}),
}
KEYS = ("crps", "coverage_50", "coverage_80", "coverage_90", "msis_80", "mse", "mase")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for i, (label, (model, options)) in enumerate(ENTRIES.items()):
        out = args.out / f"run{i}"
        shutil.rmtree(out, ignore_errors=True)
        task = {"name": "forecast", "data": "ETTh1", "features": "S", "target": "OT", **options}
        cfg = {"task": task, "model": {"name": model}, "train": {"seed": args.seed, "progress": False}}
        result = seqarena.train(cfg, out, log=lambda _: None)
        test = result.results["test"]
        rows.append({"entry": label, **{k: round(test[k], 4) for k in KEYS},
                     "train_seconds": round(result.training.get("train_seconds") or 0, 1)})  # fmt: skip
    print(json.dumps({"threads": torch.get_num_threads(), "seed": args.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
