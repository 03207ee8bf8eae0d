"""A generated multivariate series: a sum of sines, a trend and noise, fully determined by its arguments.
With `irregular` > 0 it is sampled at uneven times (log-normal gaps around one hour), to test time-aware models."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from seqarena.data.timeseries import Series
from seqarena.errors import DataError


def generate(
    length: int = 4000, channels: int = 3, noise: float = 0.1, trend: float = 0.5, seed: int = 0, irregular: float = 0.0
) -> Series:
    """Channel c is a mix of daily (24), weekly (168) and a channel-specific period, plus a linear trend.
    `irregular`: the spread (log-normal sigma) of the time between samples; 0 is hourly."""
    try:
        length, channels, noise, trend = int(length), int(channels), float(noise), float(trend)
        seed, irregular = int(seed), float(irregular)
    except (TypeError, ValueError):
        raise DataError(
            "task.data_args for synthetic data must be numbers (length, channels, noise, trend, seed, irregular)"
        ) from None
    if length < 16 or channels < 1:
        raise DataError("synthetic data needs task.data_args.length >= 16 and channels >= 1")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)[:, None]  # (N, 1) hours
    if irregular > 0:  # a separate stream, so the regular series stay as they were
        gaps = np.random.default_rng(seed + 1).lognormal(-(irregular**2) / 2, irregular, length)  # mean 1 hour
        t = np.round(np.cumsum(gaps) * 3600)[:, None] / 3600  # whole seconds
    periods = np.stack([np.full(channels, 24.0), np.full(channels, 168.0), rng.uniform(8, 64, channels)])  # (3, C)
    amps = rng.uniform(0.3, 1.0, (3, channels))
    phases = rng.uniform(0, 2 * np.pi, (3, channels))
    values = sum(amps[k] * np.sin(2 * np.pi * t / periods[k] + phases[k]) for k in range(3))  # (N, C)
    values = values + trend * t / length * rng.uniform(-1, 1, channels) + noise * rng.standard_normal(values.shape)
    time = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.round(t[:, 0] * 3600), unit="s")
    if irregular <= 0:
        time = pd.date_range("2020-01-01", periods=length, freq="h")
    return Series(values, [f"s{c}" for c in range(channels)], time, "synthetic")


def check_args(args: dict) -> None:
    allowed = list(inspect.signature(generate).parameters)
    unknown = [k for k in args if k not in allowed]
    if unknown:
        raise DataError(f"unknown task.data_args key(s) {unknown} for synthetic data (allowed: {', '.join(allowed)})")
