"""The quality guard: a run never reports a non-finite metric as a number, and a run that scores far worse than
its task's trivial baseline (repeating the last value, unigram frequencies, the majority class, copying the
source) is flagged wherever its results appear."""

from __future__ import annotations

import math
from typing import Any

WORSE_LOWER = 1.5  # lower-is-better metrics: flagged above 1.5x the baseline
WORSE_HIGHER = 0.8  # higher-is-better metrics: flagged below 0.8x the baseline


def non_finite(results: dict[str, dict[str, Any]]) -> list[str]:
    """ "split metric" for every metric that is NaN or infinite."""
    return [
        f"{split} {key}"
        for split, metrics in results.items()
        for key, value in metrics.items()
        if isinstance(value, float) and not math.isfinite(value)
    ]


def warnings(task_cls: Any, results: dict[str, dict[str, Any]]) -> list[str]:
    """One sentence per split whose primary metric is far worse than the task's trivial baseline."""
    if task_cls.baseline is None:
        return []
    key, reference = task_cls.baseline
    metric = next(m for m in (task_cls.metric, *task_cls.quality) if m.key == key)
    out = []
    for split, metrics in results.items():
        value, base = metrics.get(key), metrics.get(reference)
        if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
            continue
        worse = value < WORSE_HIGHER * base if metric.higher_is_better else value > WORSE_LOWER * base
        if worse:
            out.append(
                f"{split} {key} {value:.4g} is far worse than the trivial baseline's {base:.4g} ({reference}): the "
                f"model learnt little or training went wrong; try a lower train.lr or more epochs"
            )
    return out
