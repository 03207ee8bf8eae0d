"""Leaderboard statistics: mean and 95% confidence interval across seeds (Student t), and Welch's t-test for
whether the best entrant's margin over the runner-up is significant. Which metrics count, and which way is better,
is the task's declaration (tasks/base.py)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats as sps

RUN_KEYS = ("params", "params_target", "train_seconds", "samples_per_s", "time_to_best", "epochs")


def mean_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% CI); the half-width is NaN with fewer than two values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(sps.t.ppf(0.975, len(values) - 1)) * sem


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def flatten(row: dict[str, Any], task_cls: Any) -> dict[str, Any]:
    """One run's numbers as a flat dict: test_/val_ quality metrics, references, run figures, profile figures."""
    result = row["result"]
    keys = {m.key for m in (task_cls.metric, *task_cls.quality)}
    test, val = result["metrics"]["test"], result["metrics"].get("val", {})
    flat = {f"test_{k}": v for k, v in test.items() if k in keys}
    flat |= {f"val_{k}": v for k, v in val.items() if k in keys}
    flat |= {k: test.get(k) for k in task_cls.references}
    flat |= {k: result.get(k) for k in RUN_KEYS}
    flat |= {k: v for k, v in result["profile"].items() if _number(v)}
    metric = task_cls.metric.key
    flat |= {f"test_{metric}@{n}": m.get(metric) for n, m in (result.get("lengths") or {}).items()}
    return flat


def leaderboard(entries: list[dict[str, Any]], task_cls: Any) -> list[dict[str, Any]]:
    """entries: [{"label", "seed", "row"}] of one sweep point -> one line per label, best first on the task's
    primary test metric."""
    by_label: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, list[str]] = {}
    for e in entries:
        if e["row"]["status"] == "ok":
            by_label.setdefault(e["label"], []).append(flatten(e["row"], task_cls))
        else:
            failed.setdefault(e["label"], []).append(e["row"].get("error") or "failed")
    lines = []
    for label, runs in by_label.items():
        line: dict[str, Any] = {"label": label, "runs": len(runs), "failed": len(failed.pop(label, []))}
        for key in runs[0]:
            values = [r[key] for r in runs if _number(r.get(key))]
            if values:
                line[key], line[f"{key}_ci"] = mean_ci(values)
                line[f"{key}_values"] = values
        lines.append(line)
    metric = f"test_{task_cls.metric.key}"
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
    return float(sps.ttest_ind(a, b, equal_var=False).pvalue)
