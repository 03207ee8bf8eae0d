"""What a forecasting run exports and how it streams. The window graph takes the lookback window in original units
and returns the forecast in original units (the training scaler is inside the graph), so a served model needs
nothing but the rows. Streaming re-runs it on a rolling window of the last `lookback` rows (RevIN and the head see
the whole window), which gives exactly the numbers `predict` gives for the same rows."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np
import torch
from torch import nn

from seqarena.data.timeseries import MAX_ABS
from seqarena.deploy.graphs import Graph
from seqarena.errors import DataError, SeqarenaError
from seqarena.tasks.forecast_model import ForecastModel
from seqarena.tasks.windows import Scaler


class OriginalUnits(nn.Module):
    """The forecaster between the training scaler and its inverse: (B, L, C_in [+ gap]) -> (B, H, C_out)."""

    def __init__(self, model: ForecastModel, art: dict[str, Any]) -> None:
        super().__init__()
        scaler = Scaler.from_json(art["scaler"])
        out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
        self.model, self.n_in = model, len(art["in_columns"])
        self.register_buffer("mean", torch.tensor(scaler.mean, dtype=torch.float32))  # (C_in,)
        self.register_buffer("std", torch.tensor(scaler.std, dtype=torch.float32))
        self.register_buffer("out_mean", self.mean[out_idx].clone())  # (C_out,)
        self.register_buffer("out_std", self.std[out_idx].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = (x[..., : self.n_in] - self.mean) / self.std  # (B, L, C_in)
        if x.shape[-1] > self.n_in:  # the time-gap channel is not scaled
            scaled = torch.cat([scaled, x[..., self.n_in :]], dim=-1)
        return self.model(scaled) * self.out_std + self.out_mean  # (B, H, C_out)


def export_graphs(model: ForecastModel, art: dict[str, Any]) -> list[Graph]:
    spec = model.spec
    width = spec.channels + (1 if model.gaps else 0)
    wrapped = OriginalUnits(model, art)
    gen = torch.Generator().manual_seed(0)

    def draw(batch: int) -> torch.Tensor:  # plausible rows: the training scale around the training mean
        z = torch.randn(batch, spec.lookback, width, generator=gen)
        z[..., : wrapped.n_in] = z[..., : wrapped.n_in] * wrapped.std + wrapped.mean
        if width > wrapped.n_in:
            z[..., wrapped.n_in :] = z[..., wrapped.n_in :].abs()  # gaps are positive
        return z

    note = (
        f"x (batch, {spec.lookback} rows, {width} columns) -> y (batch, {spec.horizon} rows, outputs), original units"
    )
    return [Graph("window", wrapped, ("x",), ("y",), (draw(2),), (draw(5),), ({0: "batch"},), note=note)]


class OnnxForecaster(nn.Module):
    """Stands in for the eager forecaster in evaluate() (which works in scaled units): the window graph run by
    ONNX Runtime between the inverse scaler and the scaler."""

    def __init__(self, graphs: Any, art: dict[str, Any]) -> None:
        super().__init__()
        self.graphs = graphs
        scaler = Scaler.from_json(art["scaler"])
        out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
        self.n_in = len(art["in_columns"])
        self.mean, self.std = torch.tensor(scaler.mean).float(), torch.tensor(scaler.std).float()
        self.out_mean, self.out_std = self.mean[out_idx], self.std[out_idx]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = x.float().clone()
        raw[..., : self.n_in] = raw[..., : self.n_in] * self.std + self.mean
        y = self.graphs.run("window", raw)[0]  # (B, H, C_out) original units
        return (y - self.out_mean) / self.out_std


class ForecastStreamer:
    def __init__(self, run: Any, graphs: Any) -> None:
        art = run.artifacts
        if art.get("gap_unit_seconds"):
            raise SeqarenaError(f"{run.run_dir} was trained on time gaps; stream needs evenly spaced rows")
        self.graphs, self.columns, self.outputs = graphs, art["in_columns"], art["out_columns"]
        self.lookback = run.model.spec.lookback
        self.reset()

    def reset(self) -> None:
        self.rows: deque[np.ndarray] = deque(maxlen=self.lookback)

    def step(self, observation: Any) -> dict[str, Any]:
        """One new row (a number per input column, in `columns` order) -> the forecast after it, once ready."""
        row = np.asarray(observation, dtype=np.float64).reshape(-1)
        if row.shape[0] != len(self.columns):
            raise DataError(f"a row needs {len(self.columns)} values ({', '.join(self.columns)}), got {row.shape[0]}")
        if not all(math.isfinite(v) and abs(v) <= MAX_ABS for v in row):
            raise DataError("a row holds a missing, infinite or overflowing value; fill it before streaming")
        started = time.perf_counter()
        self.rows.append(row)
        if len(self.rows) < self.lookback:
            return {"ready": False, "needs": self.lookback - len(self.rows)}
        x = torch.from_numpy(np.stack(self.rows)).float()[None]  # (1, L, C_in) original units
        pred = self.graphs.run("window", x)[0][0].double().numpy()  # (H, C_out) original units
        ms = (time.perf_counter() - started) * 1e3
        return {"ready": True, "forecast": {c: pred[:, i].tolist() for i, c in enumerate(self.outputs)}, "ms": ms}
