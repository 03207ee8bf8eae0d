"""`seqarena predict` for forecasting runs: the `horizon` steps after the end of a table, in original units, with
their timestamps when the table has a time column."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import nn

from seqarena.data.timeseries import fill_missing, frame_to_series, gap_channel, infer_freq
from seqarena.errors import DataError
from seqarena.tasks.windows import Scaler


@torch.inference_mode()
def predict_frame(
    model: nn.Module, art: dict[str, Any], frame: pd.DataFrame, source: str, time_column: str | None, fill: str | None
) -> pd.DataFrame:
    """Forecast the `horizon` steps after the end of `frame`, in original units."""
    series = fill_missing(frame_to_series(frame, source, time_column), fill)
    missing = [c for c in art["in_columns"] if c not in series.columns]
    if missing:
        raise DataError(f"{source} lacks the column(s) {missing} the model was trained on")
    lookback = model.spec.lookback
    if len(series.values) < lookback:
        raise DataError(f"{source} has {len(series.values)} rows; the model needs the last {lookback} (task.lookback)")
    scaler = Scaler.from_json(art["scaler"])
    values = series.values[-lookback:, [series.columns.index(c) for c in art["in_columns"]]]
    x = torch.from_numpy(scaler.transform(values)).float()[None]  # (1, L, C_in)
    unit = art.get("gap_unit_seconds")
    if unit:
        if series.time is None:
            raise DataError(f"{source} has no time column; the model was trained on the gaps between timestamps")
        x = torch.cat([x, gap_channel(series.time, unit)[-lookback:][None]], dim=2)  # (1, L, C_in + 1)
    model.eval()
    out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
    pred = model(x)[0].double().numpy() * scaler.std[out_idx] + scaler.mean[out_idx]  # (H, C_out)
    result = pd.DataFrame(pred, columns=art["out_columns"])
    if series.time is not None:
        freq = art.get("freq") or infer_freq(series.time)
        if unit:  # uneven gaps: the future rows are placed one median gap apart
            step = pd.Timedelta(seconds=unit)
        else:
            step = pd.tseries.frequencies.to_offset(freq) if freq else series.time[-1] - series.time[-2]
        times = [series.time[-1] + step * (i + 1) for i in range(len(result))]
        result.insert(0, "date", times)
    return result
