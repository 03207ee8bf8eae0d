"""eng-fra translation (the PyTorch seq2seq tutorial's filtered pairs, en -> fr): a GRU encoder-decoder with
Bahdanau attention and a Transformer encoder-decoder, each trained on this CPU within a 20-minute training budget
(under 30 minutes of wall time); prints test BLEU/chrF (beam search), the copy-the-source baseline, and times as
JSON.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/engfra_translation.py [--models gru,transformer]
        [--epochs 30] [--seconds 1200] [--beam 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import seqarena

MODELS = {
    "gru": {"name": "gru", "d_model": 256, "num_layers": 1, "dropout": 0.1, "attention": "bahdanau"},
    "lstm": {"name": "lstm", "d_model": 256, "num_layers": 1, "dropout": 0.1, "attention": "luong"},
    "transformer": {
        "name": "transformer",
        "d_model": 256,
        "num_layers": 2,
        "num_heads": 4,
        "d_ff": 512,
        "dropout": 0.1,
    },
}
LR = {"gru": 2e-3, "lstm": 2e-3, "transformer": 5e-4}


def recipe(name: str, epochs: int, seconds: float, beam: int) -> dict:
    return {
        "task": {"name": "seq2seq", "data": "eng-fra", "beam": beam, "label_smoothing": 0.1},
        "model": MODELS[name],
        "train": {"max_epochs": epochs, "max_seconds": seconds, "batch_size": 64, "lr": LR[name],
                  "weight_decay": 0.01, "warmup_steps": 200, "schedule": "cosine", "clip_norm": 1.0,
                  "patience": 5, "progress": False},
        "eval": {"batch_size": 256},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="gru,transformer")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=1200.0, help="training-time budget per model")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="engfra-"))
    report: dict = {"benchmark": "engfra_translation", "threads": torch.get_num_threads(), "runs": []}
    for name in args.models.split(","):
        started = time.perf_counter()
        result = seqarena.train(recipe(name, args.epochs, args.seconds, args.beam), root / name, log=print)
        wall = time.perf_counter() - started
        test = result.results["test"]
        run = {
            "model": name,
            "params": result.params,
            "test_bleu": round(test["bleu"], 2),
            "test_chrf": round(test["chrf"], 2),
            "copy_source_bleu": round(test["copy_bleu"], 2),
            "exact_match": round(test["exact_match"], 4),
            "decoding": test["decoding"],
            "val_bleu_greedy": round(result.results["val"]["bleu"], 2),
            "epochs": len(result.history),
            "best_epoch": result.training.get("best_epoch"),
            "train_seconds": round(result.training.get("train_seconds") or 0.0),
            "wall_seconds": round(wall),
            "examples": test["examples"][:3],
        }
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
