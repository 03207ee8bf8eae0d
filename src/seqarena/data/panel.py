"""Many series in one table. Long format: one row per (series, time), the series in an id column (`unique_id`,
`series_id` or `item_id` unless task.id_column names another), every other non-time column numeric. A table
without an id column is one series (wide format: one row per time step)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seqarena.data.timeseries import Series, frame_to_series, read_frame
from seqarena.errors import DataError

ID_NAMES = ("unique_id", "series_id", "item_id")


@dataclass
class Panel:
    """Series that share their columns: `ids[i]` names `series[i]`; one series with id None for a wide table."""

    ids: list[str | None]
    series: list[Series]
    source: str
    id_column: str | None = None

    @property
    def columns(self) -> list[str]:
        return self.series[0].columns

    @property
    def long(self) -> bool:
        return self.ids[0] is not None

    def checksum(self) -> str:
        """A single series keeps its own checksum; many series hash their ids and values in order."""
        if not self.long:
            return self.series[0].checksum()
        digest = hashlib.sha256()
        for sid, s in zip(self.ids, self.series, strict=True):
            digest.update(str(sid).encode() + b"\0" + np.ascontiguousarray(s.values).tobytes())
        return digest.hexdigest()


def detect_id_column(frame: pd.DataFrame, requested: str | None, source: str) -> str | None:
    if requested is not None:
        if requested not in frame.columns:
            raise DataError(f"{source} has no column '{requested}' (task.id_column); columns: {list(frame.columns)}")
        return requested
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    return next((lowered[n] for n in ID_NAMES if n in lowered), None)


def frame_to_panel(
    frame: pd.DataFrame, source: str, time_column: str | None = None, id_column: str | None = None
) -> Panel:
    """Validate a wide or long DataFrame and split it into series, each sorted by its time column."""
    id_col = detect_id_column(frame, id_column, source)
    if id_col is None:
        return Panel([None], [frame_to_series(frame, source, time_column)], source)
    if frame.empty:
        raise DataError(f"{source} has no data rows; give one row per series and time step")
    if frame[id_col].isna().any():
        row = int(np.flatnonzero(frame[id_col].isna().to_numpy())[0])
        raise DataError(f"{source}: id column '{id_col}' is empty at row {row + 2}; give every row its series id")
    rest = frame.drop(columns=[id_col])
    if time_column is None and not any(str(c).strip().lower() in ("ds", "date", "time", "timestamp", "datetime")
                                       for c in rest.columns):  # fmt: skip
        raise DataError(
            f"{source} is in long format (id column '{id_col}') but has no time column to order each series by; "
            f"name it ds, date or timestamp, or set task.time_column"
        )
    ids, parts = [], []
    for sid, rows in frame.groupby(id_col, sort=True):  # ids in sorted order, as forecasting libraries keep them
        part = frame_to_series(rows.drop(columns=[id_col]).reset_index(drop=True), f"{source} series '{sid}'",
                               time_column)  # fmt: skip
        if part.time is None:
            raise DataError(f"{source}: no time column found; set task.time_column")
        order = np.argsort(part.time.as_unit("ns").asi8, kind="stable")  # long tables need not be sorted
        ids.append(str(sid))
        parts.append(Series(part.values[order], part.columns, part.time[order], part.source))
    return Panel(ids, parts, source, id_col)


def read_panel(path: Path, time_column: str | None = None, id_column: str | None = None) -> Panel:
    """A CSV or Parquet table as a Panel (one without an id column is read exactly as a single series)."""
    return frame_to_panel(read_frame(path), str(path), time_column, id_column)


def to_frame(data: object) -> pd.DataFrame:
    """A pandas DataFrame, or a numpy array (1-D: one series 'y'; 2-D: one column per channel, y0, y1, ...)."""
    if isinstance(data, pd.DataFrame):
        if isinstance(data.index, pd.DatetimeIndex):  # the time as the index: make it the time column
            return data.rename_axis(data.index.name or "ds").reset_index()
        return data
    if isinstance(data, pd.Series):
        return to_frame(data.to_frame(name=data.name or "y"))
    array = np.asarray(data)
    if array.ndim == 1:
        return pd.DataFrame({"y": array})
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"y{i}" for i in range(array.shape[1])])
    raise DataError(f"data of shape {array.shape}: give a DataFrame, or a 1-D or 2-D array (time x channels)")
