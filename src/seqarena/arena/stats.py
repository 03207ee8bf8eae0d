"""Leaderboard statistics: mean and 95% confidence interval across seeds (Student t), Welch's t-test for whether
the best entrant's margin over the runner-up is significant across seeds, and a paired t-test across the windows
of a backtest (the same origins for every entrant). Which metrics count, and which way is better, is the task's
declaration (tasks/base.py)."""

from __future__ import annotations

import math
import statistics
from typing import Any

import mpmath

RUN_KEYS = ("params", "params_target", "train_seconds", "samples_per_s", "time_to_best", "epochs")


def mean_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% CI); the half-width is NaN with fewer than two values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, t_quantile(0.975, len(values) - 1) * sem


def t_cdf(t: float, df: float) -> float:
    """Student t's cumulative distribution at `t` with `df` degrees of freedom (mpmath's regularised incomplete
    beta; mpmath ships with torch)."""
    tail = float(mpmath.betainc(df / 2, 0.5, 0, df / (df + t * t), regularized=True)) / 2
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The `p` quantile of Student t with `df` degrees of freedom (e.g. 12.706 for p=0.975, df=1)."""
    if p == 0.5:
        return 0.0
    root = mpmath.findroot(lambda x: t_cdf(float(x), df) - p, mpmath.sqrt(2) * mpmath.erfinv(2 * p - 1))
    return float(root)


def interval(values: list[float], share: bool = False) -> tuple[float, float, str]:
    """(low, high, kind) of the spread shown for `values` across seeds: the 95% Student-t interval from three
    values on ("95% CI"), clipped at zero for a quantity that is never negative (a latency, an MSE) and at one for a
    share (accuracy, F1); the range ("min-max") with two values, where a t interval (x12.7 the standard error)
    says little; none with one."""
    if len(values) < 2:
        return math.nan, math.nan, "none"
    if len(values) < 3:
        return min(values), max(values), "min-max"
    mean, half = mean_ci(values)
    low = mean - half
    return (max(low, 0.0) if min(values) >= 0 else low), (min(mean + half, 1.0) if share else mean + half), "95% CI"


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def rank_key(task_cls: Any) -> str:
    """The figure a leaderboard ranks by: the primary test metric, or its backtest pooled over the windows."""
    return f"{getattr(task_cls, 'rank_prefix', 'test_')}{task_cls.metric.key}"


def flatten(row: dict[str, Any], task_cls: Any) -> dict[str, Any]:
    """One run's numbers as a flat dict: test_/val_ quality metrics, references, run figures, profile figures."""
    result = row["result"]
    keys = {m.key for m in (task_cls.metric, *task_cls.quality)}
    keys |= {c.key[5:] for c in task_cls.columns if c.key.startswith("test_")}  # columns may show other metrics
    test, val = result["metrics"]["test"], result["metrics"].get("val", {})
    flat = {f"test_{k}": v for k, v in test.items() if k in keys}
    flat |= {f"val_{k}": v for k, v in val.items() if k in keys}
    flat |= {k: test.get(k) for k in task_cls.references}
    flat |= {k: result.get(k) for k in RUN_KEYS}
    flat |= {k: v for k, v in result["profile"].items() if _number(v)}
    metric = task_cls.metric.key
    flat |= {f"test_{metric}@{n}": m.get(metric) for n, m in (result.get("lengths") or {}).items()}
    if result.get("backtest"):
        flat |= {f"backtest_{k}": v for k, v in result["backtest"]["mean"].items()}
    return flat


def window_values(row: dict[str, Any], task_cls: Any) -> list[float] | None:
    """The primary metric of each backtest window (in the backtest's order: series, then origin), or None."""
    backtest = (row.get("result") or {}).get("backtest")
    if not backtest:
        return None
    return [w.get(task_cls.metric.key) for w in backtest["windows"]]


def leaderboard(entries: list[dict[str, Any]], task_cls: Any) -> list[dict[str, Any]]:
    """entries: [{"label", "seed", "row"}] of one sweep point -> one line per label, best first on the task's
    primary test metric (its backtest, pooled over the windows, when the arena backtests: rank_key)."""
    by_label: dict[str, list[dict[str, Any]]] = {}
    windows: dict[str, list[list[float] | None]] = {}
    failed: dict[str, list[str]] = {}
    for e in entries:
        if e["row"]["status"] == "ok":
            by_label.setdefault(e["label"], []).append(flatten(e["row"], task_cls))
            windows.setdefault(e["label"], []).append(window_values(e["row"], task_cls))
        else:
            failed.setdefault(e["label"], []).append(e["row"].get("error") or "failed")
    shares = {f"{s}_{m.key}" for m in (task_cls.metric, *task_cls.quality) if m.share for s in ("test", "val")}
    lines = []
    for label, runs in by_label.items():
        line: dict[str, Any] = {"label": label, "runs": len(runs), "failed": len(failed.pop(label, []))}
        for key in runs[0]:
            values = [r[key] for r in runs if _number(r.get(key))]
            if values:
                line[key], line[f"{key}_ci"] = mean_ci(values)
                line[f"{key}_lo"], line[f"{key}_hi"], line["interval"] = interval(values, key in shares)
                line[f"{key}_values"] = values
        per_seed = [w for w in windows[label] if w is not None and all(_number(v) for v in w)]
        if per_seed and len({len(w) for w in per_seed}) == 1:  # each window's metric, averaged over the seeds
            line["window_values"] = [statistics.fmean(v) for v in zip(*per_seed, strict=True)]
        lines.append(line)
    metric = rank_key(task_cls)
    sign = -1 if task_cls.metric.higher_is_better else 1
    lines.sort(key=lambda ln: sign * ln[metric] if _number(ln.get(metric)) else math.inf)
    for label, errors in failed.items():
        lines.append({"label": label, "runs": 0, "failed": len(errors), "error": errors[0].splitlines()[0]})
    return lines


def significance(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch t-test p-value, or None without two values on each side (or no variance at all)."""
    if len(a) < 2 or len(b) < 2:
        return None
    if statistics.pstdev(a) == 0 and statistics.pstdev(b) == 0:
        return 0.0 if a[0] != b[0] else 1.0
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    return 2 * t_cdf(-abs(t), df)


def paired_significance(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired t-test p-value over matched windows (the same series and origins), or None without two
    pairs; identical differences give 0 (all one way) or 1 (none)."""
    if len(a) != len(b) or len(a) < 2:
        return None
    d = [x - y for x, y in zip(a, b, strict=True)]
    if statistics.pstdev(d) == 0:
        return 0.0 if d[0] != 0 else 1.0
    t = statistics.fmean(d) / (statistics.stdev(d) / math.sqrt(len(d)))
    return 2 * t_cdf(-abs(t), len(d) - 1)
