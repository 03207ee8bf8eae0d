"""`predict` for forecasting runs: the `horizon` steps after the end of each series, in original units, with their
timestamps when the table has a time column, and the quantiles as `<column>-lo-80` / `<column>-hi-80` columns
(every central interval task.quantiles holds; others as `<column>-q0.3`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqarena.data import calendar, rolling
from seqarena.data.panel import Panel, frame_to_panel, to_frame
from seqarena.data.timeseries import (
    TIME_NAMES,
    Series,
    fill_missing,
    frame_to_series,
    gap_channel,
    infer_freq,
    read_frame,
)
from seqarena.errors import DataError
from seqarena.tasks import forecast_dist as dist
from seqarena.tasks.forecast_covariates import future_block
from seqarena.tasks.windows import Scaler


def read_inputs(inputs: Any) -> tuple[pd.DataFrame, str]:
    """A path (CSV or Parquet), a DataFrame or an array -> (frame, a name for messages)."""
    if isinstance(inputs, (str, Path)):
        return read_frame(Path(inputs)), str(inputs)
    return to_frame(inputs).copy(), "the input"


@torch.inference_mode()
def predict_frame(model: nn.Module, art: dict[str, Any], tc: Any, frame: pd.DataFrame, source: str,
                  ids: list[str] | None = None, intervals: bool = False,
                  future: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Forecast the `horizon` steps after the end of every series in `frame` (or those in `ids`); `future` holds
    the future-known columns over those steps (with the id column for many series)."""
    id_col = art.get("id_column")
    if id_col is not None and id_col not in frame.columns:
        raise DataError(f"{source} has no id column '{id_col}'; the model was trained on series in long format")
    if id_col is not None and ids is not None:
        frame = frame[frame[id_col].astype(str).isin([str(i) for i in ids])]
        if frame.empty:
            raise DataError(f"{source} holds none of the series {list(ids)[:5]}")
    time_name = "date"  # a single series' forecast has a date column; many series keep the input's time column
    if id_col is not None:
        time_name = tc.time_column or next((c for c in frame.columns if str(c).strip().lower() in TIME_NAMES), "ds")
    if id_col is None:  # trained on one series: the table is that series (an id column is not numeric: an error)
        panel = Panel([None], [frame_to_series(frame, source, tc.time_column)], source)
    else:
        panel = frame_to_panel(frame, source, tc.time_column, id_col)
    model.eval()
    frames = []
    for sid, series in zip(panel.ids, panel.series, strict=True):
        where = source if sid is None else f"{source} series '{sid}'"
        if sid is not None and sid not in art["series"]:
            raise DataError(f"{where} was not in the training data; the model scales each series by its training rows")
        scaler = Scaler.from_json(art["scaler"] if sid is None else art["series"][sid])
        if future is not None and sid is not None and id_col not in future.columns:
            raise DataError(f"future covariates missing from the predict input: the future table has no '{id_col}'")
        ahead = future if future is None or sid is None else future[future[id_col].astype(str) == sid]
        inputs = _Inputs(fill_missing(series, tc.fill), scaler, ahead, _static(art, sid))
        result = _one(model, art, tc, inputs, where, time_name, intervals)
        if sid is not None:
            result.insert(0, id_col, sid)
        frames.append(result)
    return pd.concat(frames, ignore_index=True)


@dataclass
class _Inputs:
    series: Series  # the history of one series
    scaler: Scaler
    future: pd.DataFrame | None  # rows with the future-known columns after the history
    static: np.ndarray | None  # (K,) the series' static values, scaled


def _static(art: dict[str, Any], sid: str | None) -> np.ndarray | None:
    if not art.get("static"):
        return None
    scaler = Scaler.from_json(art["static"]["scaler"])
    return scaler.transform(np.asarray(art["static"]["values"][sid], dtype=np.float64))  # (K,)


def _one(model: nn.Module, art: dict[str, Any], tc: Any, inputs: _Inputs, source: str, time_name: str,
         intervals: bool) -> pd.DataFrame:  # fmt: skip
    series, scaler = inputs.series, inputs.scaler
    if art.get("rolling") and art["target"] in series.columns:  # the derived inputs, from the rows given
        series = rolling.derive(series, art["target"], art["rolling"]["windows"], art["rolling"]["stats"])
    features = art.get("calendar") or []
    if features and series.time is None:
        raise DataError(f"{source} has no time column; the model reads calendar features ({', '.join(features)})")
    series = calendar.derive(series, features)
    missing = [c for c in art["in_columns"] if c not in series.columns]
    if missing:
        raise DataError(f"{source} lacks the column(s) {missing} the model was trained on")
    lookback = model.spec.lookback
    if len(series.values) < lookback:
        raise DataError(f"{source} has {len(series.values)} rows; the model needs the last {lookback} (task.lookback)")
    values = series.values[-lookback:, [series.columns.index(c) for c in art["in_columns"]]]
    x = torch.from_numpy(scaler.transform(values)).float()[None]  # (1, L, C_in)
    unit = art.get("gap_unit_seconds")
    if unit:
        if series.time is None:
            raise DataError(f"{source} has no time column; the model was trained on the gaps between timestamps")
        x = torch.cat([x, gap_channel(series.time, unit)[-lookback:][None]], dim=2)  # (1, L, C_in + 1)
    if inputs.static is not None:
        x = torch.cat([x, torch.from_numpy(inputs.static).float().expand(1, lookback, -1)], dim=2)  # (1, L, C + K)
    times = _future_times(series, art, model.spec.horizon) if series.time is not None else None
    future = _future(art, model.spec.horizon, series, inputs, times, scaler, source)  # [(1, H, F)] or []
    out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
    std, mean = scaler.std[out_idx], scaler.mean[out_idx]  # (C_out,)
    out = model(x, *future).double()
    point = dist.point(out, tc.distribution, tc.quantiles)[0].numpy() * std + mean  # (H, C_out)
    result = pd.DataFrame(point, columns=art["out_columns"])
    quantiles = (
        _quantiles(out, dist.window_scale(x, out_idx), art, tc) if intervals or tc.distribution != "point" else None
    )
    if quantiles is not None:
        q_orig = quantiles[0].numpy() * std[None, :, None] + mean[None, :, None]  # (H, C_out, Q)
        for c, name in enumerate(art["out_columns"]):
            for column, qi in quantile_columns(name, tc.quantiles):
                result[column] = q_orig[:, c, qi]
    if times is not None:
        result.insert(0, time_name, times)
    return result


def _future_times(series: Series, art: dict[str, Any], horizon: int) -> list[pd.Timestamp]:
    """The timestamps of the horizon: the data's frequency on (uneven gaps: one median gap apart)."""
    freq = art.get("freq") or infer_freq(series.time)
    unit = art.get("gap_unit_seconds")
    if unit:
        step = pd.Timedelta(seconds=unit)
    else:
        step = pd.tseries.frequencies.to_offset(freq) if freq else series.time[-1] - series.time[-2]
    return [series.time[-1] + step * (i + 1) for i in range(horizon)]


def _future(art: dict[str, Any], horizon: int, series: Series, inputs: _Inputs, times: list | None, scaler: Scaler,
            source: str) -> list[torch.Tensor]:  # fmt: skip
    """The future-known values over the horizon, scaled as in training: [(1, H, F)], or [] without any."""
    names = art.get("future_columns") or []
    if not names:
        return []
    features = art.get("calendar") or []
    user = [c for c in names if c not in calendar.names(features)]
    time_name = next((c for c in (inputs.future.columns if inputs.future is not None else [])
                      if str(c).strip().lower() in TIME_NAMES), None)  # fmt: skip
    last = series.time[-1] if series.time is not None else None
    block = np.concatenate([future_block(inputs.future, user, horizon, last, time_name, source),
                            calendar.values(features, pd.DatetimeIndex(times)) if features else
                            np.zeros((horizon, 0))], axis=1)  # (H, F) in data units  # fmt: skip
    idx = [art["in_columns"].index(c) for c in names]
    scaled = (block - scaler.mean[idx]) / scaler.std[idx]
    return [torch.from_numpy(scaled).float()[None]]  # (1, H, F)


def _quantiles(out: torch.Tensor, scale: torch.Tensor, art: dict[str, Any], tc: Any) -> torch.Tensor:
    """(1, H, C_out, Q) quantiles in scaled units: the model's (moved by task.conformal's offsets), or a point
    model's conformal ones."""
    offsets = None if art.get("conformal") is None else torch.tensor(art["conformal"], dtype=torch.float64)
    if tc.distribution != "point":
        q = dist.quantiles_of(out, tc.distribution, tc.quantiles)
        return q if offsets is None else (q + offsets.permute(1, 2, 0)[None]).sort(dim=-1).values
    if offsets is None:
        raise DataError("this point-forecast run has no intervals (task.conformal=false); train it with the default")
    return out.unsqueeze(-1) + scale.double().unsqueeze(-1) * offsets.permute(1, 2, 0)[None]  # (1, H, C_out, Q)


def quantile_columns(name: str, quantiles: list[float]) -> list[tuple[str, int]]:
    """(column, quantile index): lo/hi per central interval, widest first, then any unpaired quantile but 0.5."""
    cols = []
    levels = dist.levels(quantiles)
    for level in levels:
        cols.append((f"{name}-lo-{level}", quantiles.index(round((1 - level / 100) / 2, 6))))
    for level in reversed(levels):
        cols.append((f"{name}-hi-{level}", quantiles.index(round(1 - (1 - level / 100) / 2, 6))))
    paired = {qi for _, qi in cols}
    cols += [(f"{name}-q{q:g}", i) for i, q in enumerate(quantiles) if i not in paired and q != 0.5]
    return cols
