"""Time-series tables: read any CSV with a time column and numeric columns, with one-line errors for bad input;
the series' frequency and the time gaps between its rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqarena.errors import DataError

TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds")
MAX_ABS = 1e150  # beyond this, squares overflow float64


@dataclass
class Series:
    """A multivariate series: values (N, C) in original units, with column names and optional timestamps."""

    values: np.ndarray  # (N, C) float64
    columns: list[str]
    time: pd.DatetimeIndex | None
    source: str  # where it came from (path or embedded name)

    def checksum(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.values).tobytes()).hexdigest()


def _detect_time_column(frame: pd.DataFrame, requested: str | None, path: Path) -> str | None:
    if requested is not None:
        if requested not in frame.columns:
            raise DataError(f"{path} has no column '{requested}' (task.time_column); columns: {list(frame.columns)}")
        return requested
    for col in frame.columns:
        if str(col).strip().lower() in TIME_NAMES:
            return col
    first = frame.columns[0]
    if frame[first].dtype == object:
        parsed = pd.to_datetime(frame[first].head(20), errors="coerce", format="mixed")
        if parsed.notna().all():
            return first
    return None


def frame_to_series(frame: pd.DataFrame, source: str, time_column: str | None = None) -> Series:
    """Validate a DataFrame (numeric columns, parsable time column) and turn it into a Series."""
    path = Path(source)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{source} has no data rows; give a CSV with a header line and at least one row")
    tcol = _detect_time_column(frame, time_column, path)
    time = None
    if tcol is not None:
        parsed = pd.to_datetime(frame[tcol], errors="coerce", format="mixed")
        if parsed.isna().any():
            row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise DataError(f"{source}: time column '{tcol}' row {row + 2} ({frame[tcol].iloc[row]!r}) is not a date")
        time = pd.DatetimeIndex(parsed)
        frame = frame.drop(columns=[tcol])
    bad = []
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            converted = pd.to_numeric(frame[col], errors="coerce")
            offending = frame[col][converted.isna() & frame[col].notna()]
            if len(offending):
                bad.append(f"'{col}' (row {int(offending.index[0]) + 2}: {offending.iloc[0]!r})")
            frame[col] = converted
    if bad:
        raise DataError(
            f"{source}: non-numeric column(s) {', '.join(bad[:3])}; remove them or set task.time_column if one is "
            f"the time"
        )
    if frame.shape[1] == 0:
        raise DataError(f"{source} has no numeric columns to forecast")
    values = frame.to_numpy(dtype=np.float64)  # (N, C)
    _check_finite(values, [str(c) for c in frame.columns], source)
    return Series(values, [str(c) for c in frame.columns], time, source)


def _check_finite(values: np.ndarray, columns: list[str], source: str) -> None:
    """No infinite values, and none so large that squaring them overflows (scalers and MSE would be inf)."""
    huge = np.isinf(values) | (np.abs(np.nan_to_num(values)) > MAX_ABS)
    if huge.any():
        row, col = (int(i) for i in np.argwhere(huge)[0])
        raise DataError(
            f"{source}: column '{columns[col]}' row {row + 2} holds {float(values[row, col])!r}, beyond what training "
            f"can handle (|x| <= {MAX_ABS:g}); remove the row or rescale the column"
        )


def check_time_order(time: pd.DatetimeIndex, source: str, bounds: dict[str, tuple[int, int]]) -> None:
    """Timestamps increase strictly in every split: a duplicate or an unsorted row is an error naming it."""
    ns = time.as_unit("ns").asi8
    bad = np.flatnonzero(np.diff(ns) <= 0)
    if len(bad):
        row = int(bad[0]) + 1
        split = next((s for s, (lo, hi) in bounds.items() if lo <= row < hi), "train")
        what = "repeats" if ns[row] == ns[row - 1] else "goes back in time after"
        raise DataError(
            f"{source}: the timestamp at row {row + 2} ({time[row]}, {split} split) {what} the one before "
            f"({time[row - 1]}); sort the rows by time and remove duplicate timestamps"
        )


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV or Parquet table, with a one-line error for a missing, empty or unreadable file."""
    if not path.exists():
        raise DataError(
            f"data file {path} does not exist; give a registered dataset name (see `seqarena datasets`) or a CSV path"
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give a CSV with a header line and at least one row")
    if path.suffix.lower() == ".parquet":
        from seqarena.data.tables import read_table

        return read_table(path)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is not a readable CSV ({first}); check its delimiter and encoding") from None


def read_csv(path: Path, time_column: str | None = None) -> Series:
    return frame_to_series(read_frame(path), str(path), time_column)


def fill_missing(series: Series, how: str | None) -> Series:
    """Fill NaNs as asked, or fail naming the first missing cell and how to fill it."""
    missing = np.isnan(series.values)
    if not missing.any():
        return series
    if how is None:
        row, col = (int(i) for i in np.argwhere(missing)[0])
        raise DataError(
            f"{series.source} has {int(missing.sum())} missing value(s), the first at row {row + 1}, column "
            f"'{series.columns[col]}'; fill them with --set task.fill=interpolate (or ffill, zero)"
        )
    frame = pd.DataFrame(series.values)
    if how == "zero":
        frame = frame.fillna(0.0)
    elif how == "ffill":
        frame = frame.ffill().bfill()
    else:
        frame = frame.interpolate(limit_direction="both")
    if frame.isna().any().any():
        raise DataError(f"{series.source}: a column is entirely missing and cannot be filled")
    return Series(frame.to_numpy(dtype=np.float64), series.columns, series.time, series.source)


def infer_freq(time: pd.DatetimeIndex) -> str | None:
    """The series' frequency as a pandas alias, from its last timestamps (None if irregular)."""
    if len(time) < 3:
        return None
    tail = time[-min(len(time), 50) :]
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):  # pandas >= 3.1 warns otherwise
            freq = pd.infer_freq(tail)
    except (KeyError, pd.errors.OptionError):
        freq = pd.infer_freq(tail)
    return pd.tseries.frequencies.to_offset(freq).freqstr if freq is not None else None


def resolve_gaps(series: Series, gaps: str, n_train: int, name: str) -> float | None:
    """The median time between training rows in seconds, when the gaps are fed to the model; else None."""
    if gaps == "off":
        return None
    if series.time is None:
        if gaps == "on":
            raise DataError(f"task.gaps=on needs a time column, and {name} has none; set task.time_column")
        return None
    seconds = np.diff(series.time.as_unit("ns").asi8[:n_train]) / 1e9  # (n_train - 1,)
    if len(seconds) == 0:
        return None
    if (seconds <= 0).any():
        row = int(np.flatnonzero(seconds <= 0)[0]) + 1
        raise DataError(
            f"{name}: the time column does not increase at row {row + 2} ({series.time[row - 1]} -> "
            f"{series.time[row]}); sort the rows by time and remove duplicate timestamps"
        )
    unit = float(np.median(seconds))
    uneven = np.abs(seconds - unit).max() > 1e-6 * unit
    return unit if gaps == "on" or uneven else None


def gap_channel(time: pd.DatetimeIndex, unit: float) -> torch.Tensor:
    """(N, 1): seconds since the previous row / unit; the first row gets 1."""
    ns = time.as_unit("ns").asi8
    seconds = np.diff(ns, prepend=ns[0] - int(unit * 1e9)) / 1e9
    return torch.from_numpy(seconds / unit).float().unsqueeze(1)


SEASONS = {"D": 7, "B": 5, "W": 52, "M": 12, "Q": 4, "Y": 1}


def season_length(freq: str | None) -> int:
    """The seasonal period a frequency implies: the day for sub-daily data (hourly 24, 15-minute 96), the week for
    daily (7; business days 5), the year for weekly (52), monthly (12) and quarterly (4); 1 when unknown."""
    if freq is None:
        return 1
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        step = pd.Timedelta(offset)
    except ValueError:  # calendar offsets (months, quarters, years, business days) have no fixed length
        step = None
    if step is not None and step < pd.Timedelta(minutes=1):  # sub-minute data: no calendar season to assume
        return 1
    if step is not None and step < pd.Timedelta(days=1):
        return max(int(round(pd.Timedelta(days=1) / step)), 1)
    base = offset.name.split("-")[0].rstrip("SE") or offset.name  # ME/MS -> M, QE-DEC -> Q, YE -> Y
    if step is not None and step == pd.Timedelta(days=1) * offset.n and base == "D":
        return 7 if offset.n == 1 else 1
    return SEASONS.get(base, 1) if offset.n == 1 else 1
