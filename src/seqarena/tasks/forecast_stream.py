"""Streaming forecasts: each new row joins a rolling window of the last `lookback` rows, and once the window is
full every row gives the forecast of the next `horizon` steps in original units, from the window graph (ONNX
Runtime or eager), so the numbers are exactly those `predict` gives for the same rows."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from seqarena.data.timeseries import MAX_ABS
from seqarena.errors import DataError, SeqarenaError
from seqarena.tasks.windows import Scaler


class ForecastStreamer:
    def __init__(self, run: Any, graphs: Any) -> None:
        art = run.artifacts
        if art.get("gap_unit_seconds"):
            raise SeqarenaError(f"{run.run_dir} was trained on time gaps; stream needs evenly spaced rows")
        self.graphs, self.columns, self.outputs = graphs, art["in_columns"], art["out_columns"]
        self.scaler = Scaler.from_json(art["scaler"])
        self.out_idx = [self.columns.index(c) for c in self.outputs]
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
        self.rows.append(self.scaler.transform(row))
        if len(self.rows) < self.lookback:
            return {"ready": False, "needs": self.lookback - len(self.rows)}
        x = torch.from_numpy(np.stack(self.rows)).float()[None]  # (1, L, C_in)
        y = self.graphs.run("window", x)[0][0].double().numpy()  # (H, C_out) scaled
        pred = y * self.scaler.std[self.out_idx] + self.scaler.mean[self.out_idx]
        ms = (time.perf_counter() - started) * 1e3
        return {"ready": True, "forecast": {c: pred[:, i].tolist() for i, c in enumerate(self.outputs)}, "ms": ms}
