"""Calendar features from a time column (task.calendar): each feature as a sine/cosine pair over its cycle, so the
last hour of a day sits next to the first; known for any future timestamp, so they are future-known covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqarena.data.timeseries import Series
from seqarena.errors import DataError

CYCLES = {  # feature -> (its value at each timestamp, the length of its cycle)
    "minute": (lambda t: t.minute + t.second / 60, lambda t: 60.0),
    "hour": (lambda t: t.hour + t.minute / 60, lambda t: 24.0),
    "dayofweek": (lambda t: t.dayofweek + t.hour / 24, lambda t: 7.0),
    "day": (lambda t: t.day - 1 + t.hour / 24, lambda t: t.days_in_month.to_numpy(float)),
    "dayofyear": (lambda t: t.dayofyear - 1 + t.hour / 24, lambda t: np.where(t.is_leap_year, 366.0, 365.0)),
    "month": (lambda t: t.month - 1 + (t.day - 1) / t.days_in_month, lambda t: 12.0),
}


def auto_features(step: pd.Timedelta | None) -> list[str]:
    """The features that vary at this sampling step: sub-hourly minute, hour and weekday; hourly hour and weekday;
    daily weekday and day of year; weekly day of year; monthly or coarser the month."""
    if step is None:
        return []
    if step < pd.Timedelta(hours=1):
        return ["minute", "hour", "dayofweek"]
    if step < pd.Timedelta(days=1):
        return ["hour", "dayofweek"]
    if step < pd.Timedelta(days=7):
        return ["dayofweek", "dayofyear"]
    if step < pd.Timedelta(days=28):
        return ["dayofyear"]
    if step < pd.Timedelta(days=365):
        return ["month"]
    return []


def resolve(features: list[str], time: pd.DatetimeIndex | None, name: str) -> list[str]:
    """task.calendar checked: names from CYCLES, or ["auto"] for those the sampling step makes vary."""
    if not features:
        return []
    if time is None:
        raise DataError(f"task.calendar={features} needs a time column, and {name} has none; set task.time_column")
    if features == ["auto"]:
        step = pd.Series(time).diff().median() if len(time) > 1 else None
        chosen = auto_features(step)
        if not chosen:
            raise DataError(f"task.calendar=auto: {name} is sampled every {step}; no calendar feature varies there")
        return chosen
    unknown = [f for f in features if f not in CYCLES]
    if unknown or len(set(features)) != len(features):
        raise DataError(f"task.calendar={features}: choose features from {', '.join(CYCLES)} (or auto), each once")
    return list(features)


def names(features: list[str]) -> list[str]:
    return [f"cal_{f}_{part}" for f in features for part in ("sin", "cos")]


def values(features: list[str], time: pd.DatetimeIndex) -> np.ndarray:
    """(N, 2 * len(features)) sine and cosine of each feature's phase at each timestamp."""
    columns = []
    for f in features:
        value, cycle = CYCLES[f]
        phase = 2 * np.pi * np.asarray(value(time), dtype=np.float64) / cycle(time)
        columns += [np.sin(phase), np.cos(phase)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(time), 0))


def derive(series: Series, features: list[str]) -> Series:
    """The series with its calendar columns appended (nothing changes without features)."""
    if not features:
        return series
    extra = values(features, series.time)
    return Series(np.concatenate([series.values, extra], axis=1), series.columns + names(features), series.time,
                  series.source)  # fmt: skip
