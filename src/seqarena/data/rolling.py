"""Sliding-window statistics of the target as derived inputs (task.rolling_windows, task.rolling_stats): for each
window w and statistic, a column `<target>_<stat><w>` over the w rows up to and including each row (so a forecast
sees only the past; the first rows of a series use the rows they have)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqarena.data.timeseries import Series

STATS = ("mean", "std", "min", "max")


def names(target: str, windows: list[int], stats: list[str]) -> list[str]:
    return [f"{target}_{stat}{w}" for w in windows for stat in stats]


def derive(series: Series, target: str, windows: list[int], stats: list[str]) -> Series:
    """The series with the derived columns appended (nothing changes without windows)."""
    if not windows:
        return series
    column = pd.Series(series.values[:, series.columns.index(target)])
    extra = []
    for w in windows:
        rolling = column.rolling(w, min_periods=1)
        for stat in stats:
            values = getattr(rolling, stat)()
            extra.append(values.fillna(0.0).to_numpy() if stat == "std" else values.to_numpy())  # one row: std 0
    values = np.concatenate([series.values, np.stack(extra, axis=1)], axis=1)  # (N, C + W * S)
    return Series(values, series.columns + names(target, windows, stats), series.time, series.source)
