"""Backtesting a forecasting run (rolling origin, historical forecasts): forecast from `windows` origins `step` rows
apart, the last ending at the end of the test split, and score every window; with `refit`, the model is trained again
on everything before an origin (expanding window) every `refit` windows, as the run was trained."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from seqarena import logs
from seqarena.errors import ConfigError, DataError
from seqarena.run import LoadedRun, train
from seqarena.tasks import forecast_dist as dist
from seqarena.tasks.forecast_metrics import Sums

KEYS = ("mse", "mae", "mae_orig", "mase", "crps", "coverage_80", "coverage_90", "msis_80")


def backtest(run: LoadedRun, windows: int = 5, step: int | None = None, refit: str | int = "none",
             log: Callable[[str], None] = logs.info) -> dict[str, Any]:  # fmt: skip
    """{"windows": [per-window metrics with its origin], "mean": metrics pooled over the windows, ...}."""
    run_dir = run.run_dir
    tc = run.config.task
    step = step or tc.horizon
    if windows < 1 or step < 1:
        raise ConfigError(f"--windows ({windows}) and --step ({step}) must be at least 1")
    every = _refit_every(refit, windows)
    task = run.task(run.config, run.run_dir)
    if task.panel.long and every:
        raise ConfigError("backtest --refit takes a single series for now; use --refit none for many series")
    if not every:  # a refit calibrates its own model
        task.calibrate(run.model, torch.device("cpu"))
    rows = []
    for part in task.parts:
        lo, end = part.bounds["test"]
        origins = [end - tc.horizon - (windows - 1 - k) * step for k in range(windows)]  # each first forecast row
        first = lo + tc.lookback if not every else tc.lookback + 2 * tc.horizon
        if origins[0] < first:
            raise DataError(
                f"{part.label()}: {windows} windows {step} rows apart start at row {origins[0]}, before row {first} "
                f"({'the start of the test split' if not every else 'the least a refit trains on'}); give fewer "
                f"--windows or a smaller --step"
            )
        if not every:
            rows += _score(run.model, task, part, origins)
            continue
        for g in range(0, windows, every):
            group = origins[g : g + every]
            log(f"refit {g // every + 1}/{-(-windows // every)}: training on the {group[0]:,} rows before the window")
            rows += _refit_and_score(run, task, group)
    pooled = sum((r.pop("_sums") for r in rows[1:]), rows[0].pop("_sums")).metrics()
    return {
        "run": str(run_dir),
        "windows": rows,
        "mean": {k: pooled[k] for k in KEYS if k in pooled},
        "settings": {"windows": windows, "step": step, "refit": refit, "horizon": tc.horizon},
    }


def _refit_every(refit: str | int, windows: int) -> int:
    if refit in ("none", 0, "0"):
        return 0
    if refit == "every":
        return 1
    try:
        value = int(refit)
    except (TypeError, ValueError):
        raise ConfigError(f"--refit {refit!r}: give none, every, or a number of windows (e.g. 2)") from None
    if value < 1:
        raise ConfigError(f"--refit {refit!r}: give none, every, or a number of windows >= 1")
    return min(value, windows)


@torch.inference_mode()
def _score(model: Any, task: Any, part: Any, origins: list[int]) -> list[dict[str, Any]]:
    """Per-window metrics of the test windows of one series whose forecasts start at each origin (a row)."""
    tc, rows = task.cfg.task, []
    lo = part.bounds["test"][0]
    time = task.panel.series[task.parts.index(part)].time
    for origin in origins:
        x, y, *future = part.windows["test"].at(torch.tensor([origin - tc.lookback - lo]))
        out = model.eval()(x, *future)
        sums = Sums(tc.quantiles)
        pred = dist.point(out, tc.distribution, tc.quantiles)  # (1, H, C_out)
        sums.add(pred, y, x[:, -1:, task.out_idx], part.norm, task.quantile_forecast(out, x))
        metrics = sums.metrics()
        row = {"series": part.sid} if part.sid is not None else {}
        row |= {"origin": origin, **{k: metrics[k] for k in KEYS if k in metrics}, "_sums": sums}
        if time is not None:
            row["time"] = str(time[origin])
        rows.append(row)
    return rows


def _refit_and_score(run: LoadedRun, task: Any, group: list[int]) -> list[dict[str, Any]]:
    """Train the run's config again on the rows before group[0]; score it on the group's windows."""
    tc = run.config.task
    series = task.series
    end = group[-1] + tc.horizon
    n_before = group[0]
    n_val = max(tc.horizon, n_before // 10)
    keep = [series.columns.index(c) for c in task.data_columns]  # the data as given: the refit derives the rest
    frame = pd.DataFrame(series.values[:end, keep], columns=task.data_columns)
    if series.time is not None:
        frame.insert(0, "date", series.time[:end])
    with tempfile.TemporaryDirectory(prefix="seqarena-backtest-") as tmp:
        data = Path(tmp) / "rows.csv"
        frame.to_csv(data, index=False)
        task_cfg = replace(tc, data=str(data), target=task.target, split=[n_before - n_val, n_val, end - n_before])
        cfg = replace(run.config, task=task_cfg)
        result = train(cfg, Path(tmp) / "run", log=lambda _: None)
        return _score(result.model, result.task, result.task.parts[0], group)
