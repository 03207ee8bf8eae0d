"""The data of a forecasting run, per series: chronological splits inside each series, a scaler fitted on each
series' training rows, stride-1 windows; and the windows of all series as one set for a global model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqarena.data.panel import Panel
from seqarena.data.timeseries import check_time_order, gap_channel
from seqarena.errors import DataError
from seqarena.splits import SPLITS
from seqarena.tasks.windows import Scaler, Windows, check_lengths, split_bounds


@dataclass
class Part:
    """One series, ready: its id (None for a single series), row ranges per split, scaler and windows."""

    sid: str | None
    bounds: dict[str, tuple[int, int]]
    scaler: Scaler
    windows: dict[str, Windows]
    norm: dict[str, torch.Tensor]  # mean, std, MASE scale and MAPE floor of the output columns (C_out,), float64

    def label(self) -> str:
        return "the series" if self.sid is None else f"series '{self.sid}'"


class PanelWindows:
    """The windows of one split across series, indexed as one set (series after series); one series is exactly
    its own Windows."""

    def __init__(self, parts: list[Windows]) -> None:
        self.parts = parts
        sizes = torch.tensor([len(w) for w in parts])
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])  # (S + 1,)
        self.count = int(self.offsets[-1])

    def __len__(self) -> int:
        return self.count

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(x, y) or, with future-known columns, (x, y, future) of the windows `idx`."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        if len(self.parts) == 1:
            return self.parts[0].batch(idx)
        which = torch.searchsorted(self.offsets[1:], idx, right=True)  # (b,) the series of each window
        pieces, where = [], []
        for s in which.unique().tolist():
            sel = (which == s).nonzero().squeeze(1)
            pieces.append(self.parts[s].batch(idx[sel] - self.offsets[s]))
            where.append(sel)
        order = torch.cat(where).argsort()  # back to the order asked for
        return tuple(torch.cat(t)[order] for t in zip(*pieces, strict=True))  # (b, L, C), (b, H, C_out)[, (b, H, F)]

    def iterate(self, batch_size: int, generator: torch.Generator | None = None):
        order = torch.randperm(self.count, generator=generator) if generator is not None else torch.arange(self.count)
        for start in range(0, self.count, batch_size):
            yield self.batch(order[start : start + batch_size])


def prepare(panel: Panel, in_columns: list[str], out_idx: list[int], split: tuple, lookback: int, horizon: int,
            gap_unit: float | None, name: str, check_order: bool, eval_stride: int = 1,
            future_idx: list[int] | None = None, static: np.ndarray | None = None) -> list[Part]:  # fmt: skip
    """Every series split, scaled on its own training rows and windowed; a series too short is a one-line error.
    Static values (S, K), already scaled, ride along as K constant channels after the inputs (and the gap)."""
    parts = []
    for i, (sid, series) in enumerate(zip(panel.ids, panel.series, strict=True)):
        where = name if sid is None else f"{name} series '{sid}'"
        values = series.values[:, [series.columns.index(c) for c in in_columns]]  # (N, C_in)
        bounds = split_bounds(len(values), split, lookback)
        check_lengths(bounds, lookback, horizon, where)
        if series.time is not None and check_order:
            check_time_order(series.time, where, bounds)
        train_rows = values[: bounds["train"][1]]
        scaler = Scaler.fit(train_rows)
        scaled = torch.from_numpy(scaler.transform(values)).float()  # (N, C_in)
        if gap_unit:  # one more input channel: the time since the previous row, in median training gaps
            scaled = torch.cat([scaled, gap_channel(series.time, gap_unit)], dim=1)  # (N, C_in + 1)
        if static is not None:
            constant = torch.from_numpy(static[i]).float().expand(len(scaled), -1)  # (N, K)
            scaled = torch.cat([scaled, constant], dim=1)  # (N, C_in [+ 1] + K)
        windows = {s: Windows(scaled[lo:hi], lookback, horizon, out_idx, 1 if s == "train" else eval_stride,
                              future_idx) for s, (lo, hi) in bounds.items()}  # fmt: skip
        diffs = np.abs(np.diff(train_rows[:, out_idx], axis=0))  # in-sample one-step naive errors
        mase = np.where(diffs.mean(0) > 1e-12, diffs.mean(0), 1.0) if len(diffs) else np.ones(len(out_idx))
        norm = {
            "mean": torch.tensor(scaler.mean[out_idx], dtype=torch.float64),
            "std": torch.tensor(scaler.std[out_idx], dtype=torch.float64),
            "scale": torch.tensor(mase, dtype=torch.float64),
            "floor": torch.tensor(0.01 * np.abs(train_rows[:, out_idx]).mean(0), dtype=torch.float64),
        }
        parts.append(Part(sid, bounds, scaler, windows, norm))
    return parts


def combined(parts: list[Part]) -> dict[str, PanelWindows]:
    return {s: PanelWindows([p.windows[s] for p in parts]) for s in SPLITS}


def constant_columns(parts: list[Part], in_columns: list[str]) -> list[str]:
    """Columns that never change in some series' training rows (their scaler falls back to 1)."""
    out = []
    for p in parts:
        rows = p.windows["train"].rows[:, : len(in_columns)]
        flat = (rows.std(dim=0) <= 1e-12) if len(rows) > 1 else torch.ones(len(in_columns), dtype=torch.bool)
        out += [c for c, f in zip(in_columns, flat.tolist(), strict=True) if f and c not in out]
    return out


def panel_gap_unit(panel: Panel, gaps: str, split: tuple, lookback: int, name: str) -> float | None:
    """Many series: the median gap over every series' training rows when task.gaps=on; uneven gaps with
    task.gaps=auto are an error (say on or off)."""
    if gaps == "off":
        return None
    seconds = []
    for sid, series in zip(panel.ids, panel.series, strict=True):
        n_train = split_bounds(len(series.values), split, lookback)["train"][1]
        gap = np.diff(series.time.as_unit("ns").asi8[:n_train]) / 1e9
        off = np.abs(gap - np.median(gap)) > 1e-6 * np.median(gap) if len(gap) and (gap > 0).all() else []
        if gaps == "auto" and np.any(off):
            row = int(np.flatnonzero(off)[0]) + 1
            raise DataError(
                f"{name} series '{sid}' has uneven timestamps ({series.time[row - 1]} -> {series.time[row]}); set "
                f"task.gaps=on to feed the time between rows, task.gaps=off to ignore it, or resample the series"
            )
        seconds.append(gap)
    return float(np.median(np.concatenate(seconds))) if gaps == "on" else None
