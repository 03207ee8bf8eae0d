"""seqarena's training loop vs a minimal hand-written PyTorch loop, same LSTM forecaster, same data, same
optimizer, in one process. Prints JSON: both training throughputs (samples/s over the training steps, validation
excluded in both) and their ratio. Rounds alternate between the two to spread host noise evenly.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/train_overhead.py [--rounds 3] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import seqarena
from seqarena.config import build
from seqarena.tasks.forecast import ForecastTask


class PlainLSTMForecaster(nn.Module):
    """What a user would write by hand: RevIN, input projection, nn.LSTM, last step -> horizon."""

    def __init__(self, channels: int, width: int, layers: int, horizon: int) -> None:
        super().__init__()
        self.embed = nn.Linear(channels, width)
        self.lstm = nn.LSTM(width, width, layers, batch_first=True)
        self.head = nn.Linear(width, horizon * channels)
        self.horizon = horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        std = (x.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
        h, _ = self.lstm(self.embed((x - mean) / std))  # (B, L, D)
        y = self.head(h[:, -1]).view(x.shape[0], self.horizon, -1)  # (B, H, C)
        return y * std + mean


def reference_epochs(task: ForecastTask, epochs: int, batch: int, lr: float) -> float:
    """Samples/s of a bare loop: shuffle, index, forward, backward, clip, AdamW step."""
    torch.manual_seed(0)
    win = task.windows["train"]
    x_all, y_all = win.batch(torch.arange(len(win)))  # materialised once, as a hand-written script would
    model = PlainLSTMForecaster(x_all.shape[-1], 64, 2, y_all.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, fused=True)
    seen, seconds = 0, 0.0
    for _ in range(epochs):
        started = time.perf_counter()
        for idx in torch.randperm(len(x_all)).split(batch):
            loss = F.mse_loss(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            seen += len(idx)
        seconds += time.perf_counter() - started
    return seen / seconds


def seqarena_epochs(data: str, epochs: int, batch: int, lr: float, root: Path, i: int) -> float:
    cfg = {
        "task": {"data": data},
        "model": {"name": "lstm", "d_model": 64, "num_layers": 2},
        "train": {"max_epochs": epochs, "batch_size": batch, "lr": lr, "patience": None, "progress": False},
    }
    result = seqarena.train(cfg, root / f"run{i}", log=lambda _: None)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in result.history)
    return samples / sum(h["seconds"] for h in result.history)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="ETTh1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = ForecastTask(build({"task": {"data": args.data}}))
    root = Path(tempfile.mkdtemp(prefix="overhead-"))
    ours, ref = [], []
    reference_epochs(task, 1, args.batch, 1e-3)  # warm-up (allocator, oneDNN primitives), not timed
    for i in range(args.rounds):
        ref.append(reference_epochs(task, args.epochs, args.batch, 1e-3))
        ours.append(seqarena_epochs(args.data, args.epochs, args.batch, 1e-3, root, i))
    report = {
        "benchmark": "train_overhead",
        "model": "lstm d_model=64 num_layers=2",
        "data": args.data,
        "windows": len(task.windows["train"]),
        "batch": args.batch,
        "epochs_per_round": args.epochs,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "reference_samples_per_s": [round(r, 1) for r in ref],
        "seqarena_samples_per_s": [round(o, 1) for o in ours],
        "reference_median": round(statistics.median(ref), 1),
        "seqarena_median": round(statistics.median(ours), 1),
        "ratio_seqarena_over_reference": round(statistics.median(ours) / statistics.median(ref), 4),
    }
    report["overhead_percent"] = round(100 * (1 - report["ratio_seqarena_over_reference"]), 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
