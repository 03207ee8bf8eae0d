"""A many-series arena: the 8 exchange-rate series in long format (unique_id, ds, y), one global model per entrant
against the statistical baselines, every model scored on the same windows of every series. Prints JSON: per model
the aggregate test metrics, the per-series MASE, the training and wall time (wall includes evaluation, which is
where the statistical models spend theirs) and batch-1 latency; `torch.get_num_threads()` recorded.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/long_format_arena.py --out /tmp/exchange-long
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

import seqarena
from seqarena.arena.results import collect
from seqarena.data import registry

MODELS = "rnn,lstm,gru,transformer,linear,auto_ets,auto_theta,auto_arima"


def long_table(out: Path) -> Path:
    wide = pd.read_csv(registry.fetch(registry.get_info("exchange_rate")))
    wide["date"] = pd.to_datetime(wide["date"], format="mixed")
    table = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    path = out / "exchange_long.csv"
    table[["unique_id", "ds", "y"]].to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eval-stride", type=int, default=24, help="score every k-th test window of each series")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = long_table(args.out)
    spec = {
        "task": {"data": str(data), "lookback": 96, "horizon": 24, "eval_stride": args.eval_stride},
        "models": args.models,
        "budget": {"params": "50k", "epochs": args.epochs},
        "seeds": 1,
        "workers": 1,
    }
    seqarena.compare(spec, args.out / "arena")
    rows = []
    _, points = collect(args.out / "arena")
    for entry in points[0]["entries"]:
        row, result = entry["row"], entry["row"].get("result")
        if not result:
            rows.append({"model": entry["label"], "status": row.get("status"), "error": row.get("error")})
            continue
        test = result["metrics"]["test"]
        rows.append({
            "model": entry["label"],
            "mse": test["mse"], "mae": test["mae"], "mase": test["mase"], "crps": test.get("crps"),
            "coverage_80": test.get("coverage_80"), "params": result.get("params"),
            "train_seconds": result.get("train_seconds"), "wall_seconds": result.get("wall_seconds"),
            "latency_b1_ms": result["profile"].get("latency_b1_ms"), "windows": test["windows"],
            "mase_per_series": {sid: round(m["mase"], 3) for sid, m in test.get("series", {}).items()},
        })  # fmt: skip
    print(json.dumps({"threads": torch.get_num_threads(), "spec": spec, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
