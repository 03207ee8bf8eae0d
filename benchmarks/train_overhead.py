"""seqarena's training loop vs a minimal hand-written PyTorch loop, on the same data with the same optimizer, in
one process. Prints JSON with two comparisons:

- end to end: seqarena training its LSTM forecaster against a hand-written LSTM forecaster in a bare loop (the
  acceptance figure: seqarena within 5% of the reference);
- the loop alone: the same seqarena-built model object trained by seqarena's loop and by the bare loop, with a
  tiny model (DLinear) whose steps are so short that the fixed cost per step (batching, schedule, bookkeeping)
  is what differs; reported in microseconds per step;
- language modelling, the loop alone: a character-level Tiny Shakespeare Transformer (nanoGPT's CPU size) built
  by seqarena, trained for the same number of steps by seqarena's loop and by a bare loop over the same batches.

Host load on a shared 2-core machine drifts by tens of percent between minutes, so rounds are paired: each round
runs one epoch of each side back to back (in alternating order), and the figure is the median of the per-round
ratios, with their range. Throughput counts training steps only; validation is excluded on both sides. seqarena's
runs keep torch's matmul (`train.matmul=torch`) like the bare loops, so the figure is the loop's overhead alone.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/train_overhead.py [--rounds 7] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
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


def bare_loop(task: ForecastTask, model: nn.Module, epochs: int, batch: int, lr: float) -> float:
    """Samples/s of a bare loop: shuffle, index, forward, backward, clip, AdamW step."""
    win = task.windows["train"]
    x_all, y_all = win.batch(torch.arange(len(win)))  # materialised once, as a hand-written script would
    x_all, y_all = x_all.contiguous(), y_all.contiguous()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
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


def seqarena_loop(data: str, model: dict, epochs: int, batch: int, lr: float, out: Path) -> float:
    cfg = {
        "task": {"data": data},
        "model": model,
        "train": {
            "max_epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "patience": None,
            "progress": False,
            "matmul": "torch",
        },
    }
    result = seqarena.train(cfg, out, log=lambda _: None)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in result.history)
    return samples / sum(h["seconds"] for h in result.history)


def bare_lm_loop(task, model: nn.Module, steps: int, batch: int, lr: float) -> float:
    """Tokens/s of a bare loop over the task's own batches: forward + loss, backward, clip, AdamW step."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    seen, started = 0, time.perf_counter()
    for i, (x, y) in enumerate(task.train_batches(batch, torch.Generator().manual_seed(0))):
        if i == steps:
            break
        loss = task.loss(model, (x, y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += x.numel()
    return seen / (time.perf_counter() - started)


def seqarena_lm_loop(cfg: dict, steps: int, out: Path) -> float:
    cfg = {**cfg, "train": {**cfg["train"], "max_steps": steps, "max_epochs": 1}}
    result = seqarena.train(cfg, out, log=lambda _: None)
    h = result.history[-1]
    return h["samples_per_s"] * cfg["task"]["block_size"]  # samples are blocks of block_size tokens


def paired(rounds: int, ours: Callable[[int], float], ref: Callable[[int], float]) -> tuple[list, list]:
    """Per round one measurement of each, back to back, the order alternating so neither always goes first."""
    a, b = [], []
    for i in range(rounds):
        if i % 2:
            a.append(ours(i))
            b.append(ref(i))
        else:
            b.append(ref(i))
            a.append(ours(i))
    return a, b


def summary(ours: list[float], ref: list[float]) -> dict:
    ratios = sorted(o / r for o, r in zip(ours, ref, strict=True))
    return {
        "seqarena_samples_per_s": [round(v, 1) for v in ours],
        "reference_samples_per_s": [round(v, 1) for v in ref],
        "paired_ratios": [round(r, 4) for r in ratios],
        "ratio_seqarena_over_reference": round(statistics.median(ratios), 4),
        "overhead_percent": round(100 * (1 - statistics.median(ratios)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="ETTh1")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--lm-steps", type=int, default=300)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lstm = {"name": "lstm", "d_model": 64, "num_layers": 2}
    task = ForecastTask(build({"task": {"data": args.data}, "model": lstm}))
    channels, horizon = len(task.in_columns), task.cfg.task.horizon
    root = Path(tempfile.mkdtemp(prefix="overhead-"))

    def plain(i: int) -> float:
        torch.manual_seed(i)
        return bare_loop(task, PlainLSTMForecaster(channels, 64, 2, horizon), args.epochs, args.batch, 1e-3)

    bare_loop(task, PlainLSTMForecaster(channels, 64, 2, horizon), 1, args.batch, 1e-3)  # warm-up, not timed
    end_to_end = paired(
        args.rounds, lambda i: seqarena_loop(args.data, lstm, args.epochs, args.batch, 1e-3, root / f"lstm{i}"), plain
    )
    linear = {"name": "linear"}
    small = ForecastTask(build({"task": {"data": args.data}, "model": linear}))

    def same_model(i: int) -> float:
        torch.manual_seed(i)
        return bare_loop(small, small.build_model(small.cfg), args.epochs, args.batch, 1e-3)

    loop_only = paired(
        args.rounds, lambda i: seqarena_loop(args.data, linear, args.epochs, args.batch, 1e-3, root / f"lin{i}"),
        same_model,
    )  # fmt: skip
    ours_s, ref_s = (statistics.median(v) for v in loop_only)
    lm_cfg = {
        "task": {"name": "lm", "data": "tinyshakespeare", "tokenizer": "char", "block_size": 64},
        "model": {"name": "transformer", "d_model": 128, "num_layers": 4, "num_heads": 4, "positions": "learned",
                  "max_len": 64},
        "train": {"batch_size": 12, "lr": 1e-3, "clip_norm": 1.0, "patience": None, "progress": False,
                  "weight_decay": 0.0, "matmul": "torch"},
    }  # fmt: skip
    from seqarena.tasks.lm import LMTask

    lm_task = LMTask(build(lm_cfg))

    def plain_lm(i: int) -> float:
        torch.manual_seed(i)
        return bare_lm_loop(lm_task, lm_task.build_model(lm_task.cfg), args.lm_steps, 12, 1e-3)

    lm = paired(args.rounds, lambda i: seqarena_lm_loop(lm_cfg, args.lm_steps, root / f"lm{i}"), plain_lm)
    report = {
        "benchmark": "train_overhead",
        "data": args.data,
        "windows": len(task.windows["train"]),
        "batch": args.batch,
        "epochs_per_round": args.epochs,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "end_to_end": {"model": "lstm d_model=64 num_layers=2 vs a hand-written LSTM forecaster"}
        | summary(*end_to_end),
        "loop_only": {"model": "the seqarena-built DLinear in both loops"}
        | summary(*loop_only)
        | {"extra_us_per_step": round(args.batch * (1 / ours_s - 1 / ref_s) * 1e6, 1)},
        "lm_loop_only": {"model": f"char Tiny Shakespeare transformer 4x128, block 64, batch 12, {args.lm_steps} steps"}
        | summary(*lm),  # samples here are tokens
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
