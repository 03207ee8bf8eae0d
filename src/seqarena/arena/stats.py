"""Leaderboard statistics: mean and 95% confidence interval across seeds (Student t), and Welch's t-test for
whether the best entrant's margin over the runner-up is significant."""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats as sps

# forecast: mse, mae; lm: ppl, bpc; classify: error_rate (ranked on), accuracy, macro_f1; seq2seq: bleu, chrf
QUALITY = ("mse", "mae", "ppl", "bpc", "error_rate", "accuracy", "macro_f1", "bleu", "chrf", "exact_match")
HIGHER_IS_BETTER = {"test_bleu", "test_chrf", "test_accuracy", "test_macro_f1", "test_exact_match"}
RUN_KEYS = ("params", "train_seconds", "samples_per_s", "train_tokens_per_s", "time_to_best", "epochs")
PRIMARY = {"forecast": "test_mse", "lm": "test_ppl", "classify": "test_error_rate", "seq2seq": "test_bleu"}
PROFILE_KEYS = (
    "latency_b1_ms",
    "latency_b64_ms",
    "stream_step_ms",
    "size_bytes",
    "peak_rss_mb",
    "rss_over_idle_mb",
    "threads",
    "gen_tokens_per_s",
    "gen_ms_per_token",
    "repetition_rate",
    "distinct_2",
    "copy_rate",
)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% CI); the half-width is NaN with fewer than two values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(sps.t.ppf(0.975, len(values) - 1)) * sem


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """One run's numbers as a flat dict."""
    result = row["result"]
    flat = {f"test_{k}": v for k, v in result["metrics"]["test"].items() if k in QUALITY}
    flat |= {f"val_{k}": v for k, v in result["metrics"].get("val", {}).items() if k in QUALITY}
    flat |= {k: result.get(k) for k in RUN_KEYS}
    flat |= {k: result["profile"].get(k) for k in PROFILE_KEYS}
    flat["unigram_ppl"] = result["metrics"]["test"].get("unigram_ppl")
    flat["majority_accuracy"] = result["metrics"]["test"].get("majority_accuracy")
    flat["copy_bleu"] = result["metrics"]["test"].get("copy_bleu")
    return flat


def leaderboard(entries: list[dict[str, Any]], metric: str = "test_mse") -> list[dict[str, Any]]:
    """entries: [{"label", "seed", "row"}] of one sweep point -> one line per label, best first."""
    by_label: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, list[str]] = {}
    for e in entries:
        if e["row"]["status"] == "ok":
            by_label.setdefault(e["label"], []).append(flatten(e["row"]))
        else:
            failed.setdefault(e["label"], []).append(e["row"].get("error") or "failed")
    lines = []
    for label, runs in by_label.items():
        line: dict[str, Any] = {"label": label, "runs": len(runs), "failed": len(failed.pop(label, []))}
        for key in runs[0]:
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            if values:
                line[key], line[f"{key}_ci"] = mean_ci(values)
                line[f"{key}_values"] = values
        lines.append(line)
    sign = -1 if metric in HIGHER_IS_BETTER else 1
    lines.sort(key=lambda ln: sign * ln[metric] if isinstance(ln.get(metric), (int, float)) else math.inf)
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
