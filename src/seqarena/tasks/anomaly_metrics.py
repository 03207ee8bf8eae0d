"""Anomaly-detection metrics on per-step scores: a threshold chosen on validation (the F1-best one where validation
holds labelled anomalies, else a quantile of its scores), then point-wise precision, recall and F1, the
point-adjusted F1 (a labelled segment counts as found when any of its steps is flagged: the protocol of
OmniAnomaly and most deep-detector papers, which inflates scores; reported beside, never instead), the
threshold-free average precision, and the KDD Cup 2021 rule (is the single highest score near a labelled step)."""

from __future__ import annotations

from typing import Any

import numpy as np


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold t maximising the point-wise F1 of `scores > t` (the highest such t on ties)."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)  # flagging the top k+1
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + y.sum())
    last = np.r_[s[1:] != s[:-1], True]  # only cut between distinct scores
    best = int(np.argmax(np.where(last, f1, -1)))
    return float(s[best + 1]) if best + 1 < len(s) else float(s[-1]) - 1.0


def quantile_threshold(scores: np.ndarray, q: float) -> float:
    """The q quantile of (normal) validation scores: q=1 flags nothing there."""
    return float(np.quantile(scores, q))


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, labels.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def point_adjust(flags: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = flags.copy()
    for a, b in segments(labels):
        if flags[a:b].any():
            out[a:b] = True
    return out


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the precision-recall curve (the mean precision at each labelled step, ranked by score)."""
    if not labels.any():
        return 0.0
    y = labels[np.argsort(-scores, kind="stable")]
    precision = np.cumsum(y) / np.arange(1, len(y) + 1)
    return float(precision[y].mean())


def _prf(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & labels).sum())
    p = tp / flags.sum() if flags.any() else 0.0
    r = tp / labels.sum() if labels.any() else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def detection_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float, tolerance: int) -> dict[str, Any]:
    """Metrics of `scores > threshold` against `labels` (both (N,), the steps of one split)."""
    flags = scores > threshold
    p, r, f1 = _prf(flags, labels)
    _, _, pa_f1 = _prf(point_adjust(flags, labels), labels)
    top = int(np.argmax(scores))
    near = labels[max(0, top - tolerance) : top + tolerance + 1].any()
    return {"precision": p, "recall": r, "f1": f1, "pa_f1": pa_f1, "auc_pr": average_precision(scores, labels),
            "top_hit": float(near), "threshold": threshold, "flagged": int(flags.sum()),
            "anomalous_steps": int(labels.sum()), "anomalies": len(segments(labels))}  # fmt: skip
