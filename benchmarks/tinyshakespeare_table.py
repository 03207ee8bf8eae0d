"""Tiny Shakespeare, character level, nanoGPT's CPU budget (block 64, batch 12, 2000 iterations, lr 1e-3 with
warm-up and cosine decay): the nanoGPT-configured Transformer, and LSTM and GRU sized to the same parameter count.
Prints JSON: validation loss (nanoGPT reports 1.88 for its model at this budget), training seconds and tokens/s.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/tinyshakespeare_table.py [--models transformer,lstm]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import seqarena
from seqarena.config import load_yaml

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "lm-tinyshakespeare.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="transformer,lstm,gru")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    base = load_yaml(CONFIG)
    base["train"]["max_steps"] = args.steps
    root = Path(tempfile.mkdtemp(prefix="tinyshakespeare-"))
    reference = seqarena.train(base, root / "transformer", log=lambda _: None)
    rows = []
    for name in args.models.split(","):
        if name == "transformer":
            result = reference
        else:  # same split, budget and recipe; the width is chosen to match the Transformer's parameter count
            raw = {**base, "model": {"name": name, "num_layers": 2, "params": reference.params}}
            result = seqarena.train(raw, root / name, log=lambda _: None)
        hist = result.history
        seconds = sum(h["seconds"] for h in hist)
        windows = sum(h["samples_per_s"] * h["seconds"] for h in hist)
        rows.append(
            {
                "model": name,
                "params": result.params,
                "d_model": result.config.model.d_model,
                "batching": result.config.task.batching,
                "val_loss": round(result.results["val"]["loss"], 4),
                "val_bpc": round(result.results["val"]["bpc"], 4),
                "best_epoch": result.training.get("best_epoch"),
                "steps": result.training.get("step"),
                "train_seconds": round(seconds, 1),
                "train_tokens_per_s": round(windows * base["task"]["block_size"] / seconds),
            }
        )
    print(json.dumps({"benchmark": "tinyshakespeare_char", "nanogpt_val_loss": 1.88,
                      "threads": torch.get_num_threads(), "rows": rows}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
