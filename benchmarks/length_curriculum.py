"""A length curriculum (sequence-length warm-up, `train.length_warmup`): nanoGPT's Tiny Shakespeare CPU recipe
(configs/lm-tinyshakespeare.yaml, 2,000 steps) trained with full-length blocks throughout, and with blocks that grow
from `--start` tokens to full length over the first `--warmup` steps, same seeds and step count. Prints JSON:
validation and test loss (nats/char) and training seconds, mean over seeds, with the thread count.

    .venv/bin/python benchmarks/length_curriculum.py [--warmup 500] [--start 8] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
import yaml

import seqarena

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "lm-tinyshakespeare.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    base = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    root, quiet = Path(tempfile.mkdtemp(prefix="curriculum-")), {"log": lambda _: None}
    cases = {"full length throughout": {},
             f"length {args.start} -> full over {args.warmup} steps": {"length_warmup": args.warmup,
                                                                       "length_start": args.start}}  # fmt: skip
    results = {}
    for case, (label, extra) in enumerate(cases.items()):
        rows = []
        for seed in seeds:
            raw = {**base, "train": {**base["train"], **extra, "seed": seed, "progress": False}}
            run = seqarena.train(raw, root / f"case{case}-seed{seed}", **quiet)
            test = run.results
            rows.append({"val_loss": round(test["val"]["loss"], 4), "test_loss": round(test["test"]["loss"], 4),
                         "train_seconds": round(run.training["train_seconds"], 1)})  # fmt: skip
        row = {k: round(statistics.mean(r[k] for r in rows), 4) for k in ("val_loss", "test_loss", "train_seconds")}
        row["per_seed"] = rows
        results[label] = row
        print(json.dumps({label: row}), flush=True)
    print(json.dumps({"benchmark": "length_curriculum", "config": str(CONFIG.name), "seeds": seeds,
                      "threads": torch.get_num_threads(), "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
