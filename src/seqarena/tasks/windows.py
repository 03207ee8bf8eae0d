"""Chronological splits, train-only z-scoring and stride-1 lookback/horizon windows for forecasting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqarena.errors import DataError


def split_bounds(n_rows: int, split: tuple, lookback: int) -> dict[str, tuple[int, int]]:
    """Row ranges per split; val and test start `lookback` rows early so their first window has full context.

    `split` is row counts (ETT's 12/4/4 months) or ratios (0.7/0.1/0.2, the rest of the literature)."""
    if all(isinstance(s, float) for s in split):
        n_train, n_test = int(n_rows * split[0]), int(n_rows * split[2])
        n_val = n_rows - n_train - n_test
    else:
        n_train, n_val, n_test = split
        if n_train + n_val + n_test > n_rows:
            raise DataError(f"the series has {n_rows} rows, fewer than its split needs ({n_train + n_val + n_test})")
    return {
        "train": (0, n_train),
        "val": (max(n_train - lookback, 0), n_train + n_val),
        "test": (max(n_train + n_val - lookback, 0), n_train + n_val + n_test),
    }


def check_split_option(split: list[float], many: bool) -> tuple:
    """task.split: three ratios summing to 1, or (one series only) three whole row counts."""
    if len(split) != 3 or any(v < 0 for v in split):
        raise DataError(f"task.split={split} needs three non-negative numbers: train, val, test (e.g. 0.7,0.1,0.2)")
    if all(v <= 1 for v in split):
        if abs(sum(split) - 1) > 1e-6 or split[0] == 0:
            raise DataError(f"task.split={split}: ratios need a training share and must sum to 1")
        return tuple(float(v) for v in split)
    if many or any(v != int(v) for v in split):
        what = "ratios (each series has its own length)" if many else "ratios or whole row counts"
        raise DataError(f"task.split={split}: give {what}")
    return tuple(int(v) for v in split)


@dataclass
class Scaler:
    """Per-column z-score fitted on the training rows only."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> Scaler:
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["std"], dtype=np.float64))


class Windows:
    """All stride-1 windows of one split: x (L, C_in) followed by y (H, C_out); with future-known columns, their
    values over the horizon as a third tensor (H, F)."""

    def __init__(self, rows: torch.Tensor, lookback: int, horizon: int, out_idx: list[int], stride: int = 1,
                 future_idx: list[int] | None = None) -> None:  # fmt: skip
        self.rows = rows  # (N, C) scaled float32
        self.lookback, self.horizon, self.stride = lookback, horizon, stride
        self.out_idx = torch.tensor(out_idx)
        self.future_idx = torch.tensor(future_idx) if future_idx else None
        self.all_out = out_idx == list(range(rows.shape[1]))  # features M: the target is every channel, no copy
        every = max(rows.shape[0] - lookback - horizon + 1, 0)
        self.count = -(-every // stride)  # windows starting every `stride` rows, the first at row 0
        self._view = rows.unfold(0, lookback + horizon, 1)  # (every, C, L + H), no copy

    def __len__(self) -> int:
        return self.count

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.at(idx * self.stride if self.stride > 1 else idx)

    def at(self, starts: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The windows whose first row is each of `starts` (rows of this split), whatever the stride."""
        win = self._view[starts].transpose(1, 2)  # (b, L + H, C)
        y = win[:, self.lookback :] if self.all_out else win[:, self.lookback :, self.out_idx]
        if self.future_idx is not None:  # (b, L, C), (b, H, C_out), (b, H, F)
            return win[:, : self.lookback], y, win[:, self.lookback :, self.future_idx]
        return win[:, : self.lookback], y  # (b, L, C), (b, H, C_out)

    def iterate(self, batch_size: int, generator: torch.Generator | None = None):
        """Batches in order (generator None: evaluation, last partial batch kept) or shuffled (training)."""
        order = torch.randperm(self.count, generator=generator) if generator is not None else torch.arange(self.count)
        for start in range(0, self.count, batch_size):
            yield self.batch(order[start : start + batch_size])


def check_lengths(bounds: dict[str, tuple[int, int]], lookback: int, horizon: int, name: str) -> None:
    for split, (lo, hi) in bounds.items():
        if hi - lo < lookback + horizon:
            raise DataError(
                f"{name}: the {split} split has {hi - lo} rows, fewer than task.lookback + task.horizon "
                f"({lookback} + {horizon}); use a shorter lookback/horizon or a longer series"
            )
