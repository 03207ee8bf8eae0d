"""Covariates of a forecasting run beyond the past values: future-known columns (task.future_columns, and the
calendar features of task.calendar) whose next `horizon` values the model reads, and static columns
(task.static_columns) that hold one value per series in a long table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seqarena.data.panel import Panel
from seqarena.data.timeseries import Series
from seqarena.errors import ConfigError, DataError


def check_future(future: list[str], columns: list[str], target: str, name: str) -> list[str]:
    missing = [c for c in future if c not in columns]
    if missing:
        raise DataError(f"task.future_columns {missing} are not columns of {name}; columns: {columns}")
    if target in future:
        raise ConfigError(f"task.future_columns holds the target '{target}'; a forecast cannot be known ahead")
    if len(set(future)) != len(future):
        raise ConfigError(f"task.future_columns={future} names a column twice")
    return list(future)


def split_static(panel: Panel, static: list[str], name: str) -> tuple[Panel, np.ndarray | None]:
    """The panel without its static columns, and their values (S, K), one row per series: constant in each."""
    if not static:
        return panel, None
    if not panel.long:
        raise ConfigError(f"task.static_columns={static} describe each of many series; {name} is one series (a "
                          f"table in long format has an id column such as unique_id)")  # fmt: skip
    missing = [c for c in static if c not in panel.columns]
    if missing:
        raise DataError(f"task.static_columns {missing} are not numeric columns of {name}; columns: {panel.columns}")
    idx = [panel.columns.index(c) for c in static]
    keep = [i for i in range(len(panel.columns)) if i not in idx]
    rows, series = [], []
    for sid, s in zip(panel.ids, panel.series, strict=True):
        values = s.values[:, idx]  # (N, K)
        varies = np.flatnonzero(np.nanmax(values, 0) != np.nanmin(values, 0))
        if len(varies) or np.isnan(values).all(0).any():
            col = static[int(varies[0])] if len(varies) else static[int(np.isnan(values).all(0).argmax())]
            raise DataError(f"{name} series '{sid}': static column '{col}' is not one value for the whole series; "
                            f"give it the same value on every row of the series, or make it a feature")  # fmt: skip
        rows.append(np.nanmax(values, 0))
        series.append(Series(s.values[:, keep], [s.columns[i] for i in keep], s.time, s.source))
    return Panel(panel.ids, series, panel.source, panel.id_column), np.stack(rows)  # (S, K)


def future_block(frame: pd.DataFrame | None, columns: list[str], horizon: int, last_time: Any, time_name: str | None,
                 where: str) -> np.ndarray:  # fmt: skip
    """(H, F) values of the future-known user columns for the `horizon` steps after a series' last row: the rows of
    `frame` (the series' own, when long) after `last_time`, or its first rows when it has no time column."""
    if not columns:
        return np.zeros((horizon, 0))
    hint = f"pass future= a table with {columns} for the {horizon} steps after the end of each series"
    if frame is None:
        raise DataError(f"future covariates missing from the predict input: the model reads {columns} ahead; {hint}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"future covariates missing from the predict input: {where} lacks {missing}; {hint}")
    rows = frame
    if time_name is not None and time_name in frame.columns and last_time is not None:
        stamps = pd.to_datetime(frame[time_name], errors="coerce", format="mixed")
        rows = frame[stamps > last_time].iloc[stamps[stamps > last_time].argsort(kind="stable")]
    if len(rows) < horizon:
        raise DataError(f"future covariates missing from the predict input: {where} has {len(rows)} future rows of "
                        f"{horizon}; {hint}")  # fmt: skip
    values = rows[columns].iloc[:horizon].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    if np.isnan(values).any():
        raise DataError(f"{where}: the future rows of {columns} hold empty or non-numeric values; fill them in")
    return values  # (H, F)
