"""Properties of a series that decide which model suits it, measured rather than assumed: the strongest seasonal
period (autocorrelation) and how irregular the sampling is."""

from __future__ import annotations

import numpy as np

MAX_LAG = 1000


def seasonality(values: np.ndarray) -> tuple[int | None, float]:
    """(period, strength) of a 1-D series: the lag >= 2 of the highest autocorrelation peak after the first dip,
    and that autocorrelation (0 when there is no peak)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 8:
        return None, 0.0
    x = _detrend(x)
    x = x - x.mean()
    n, max_lag = len(x), min(MAX_LAG, len(x) // 3)
    if max_lag < 3 or not np.any(x):
        return None, 0.0
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    acf = acf / acf[0]
    below = np.nonzero(acf < 0)[0]
    start = int(below[0]) if len(below) else max_lag  # peaks before the first dip are just smoothness
    if start >= max_lag - 1:
        return None, 0.0
    peaks = [t for t in range(start + 1, max_lag) if acf[t] >= acf[t - 1] and acf[t] >= acf[t + 1]]
    if not peaks:
        return None, 0.0
    top = max(acf[t] for t in peaks)
    lag = min(t for t in peaks if acf[t] >= 0.9 * top)  # the base period, not one of its multiples
    return (lag, float(acf[lag])) if acf[lag] > 0 else (None, 0.0)


def _lag1(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1]) if np.std(x) > 0 else 0.0


def _detrend(x: np.ndarray) -> np.ndarray:
    """A smooth trend (lag-1 autocorrelation near 1) hides the season: remove a quadratic trend, or difference a
    random walk."""
    if abs(_lag1(x)) <= 0.99:
        return x
    t = np.arange(len(x), dtype=np.float64)
    rest = x - np.polyval(np.polyfit(t, x, 2), t)
    return rest if abs(_lag1(rest)) <= 0.99 else np.diff(x)


def irregularity(times: np.ndarray | None) -> float:
    """The coefficient of variation of the gaps between time stamps (0: perfectly regular; None times: 0)."""
    if times is None or len(times) < 3:
        return 0.0
    t = np.asarray(times).astype("datetime64[ns]").astype(np.int64).astype(np.float64)
    gaps = np.diff(t)
    return float(gaps.std() / gaps.mean()) if gaps.mean() > 0 else 0.0
