"""Classification metrics from predicted probabilities: loss, accuracy, macro-F1, per-class precision/recall/F1
and the confusion matrix (rows: true class, columns: predicted). Targets of -1 are classes the model never saw in
training: they count as errors and are left out of the loss and the matrix."""

from __future__ import annotations

import math
from typing import Any

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    known = target >= 0
    flat = target[known] * k + pred[known]
    return torch.bincount(flat, minlength=k * k).view(k, k)  # (K, K)


def classification_metrics(probs: torch.Tensor, target: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """probs (N, K), target (N,) class indices (-1: unseen class)."""
    k, n = len(classes), len(target)
    pred = probs.argmax(-1)
    known = target >= 0
    picked = probs[known].gather(1, target[known, None]).squeeze(1).clamp_min(1e-12)
    loss = float(-picked.log().mean()) if known.any() else math.nan
    cm = confusion_matrix(pred, target, k).double()
    tp = cm.diag()
    precision = torch.where(cm.sum(0) > 0, tp / cm.sum(0).clamp_min(1), torch.zeros(k, dtype=torch.float64))
    recall = torch.where(cm.sum(1) > 0, tp / cm.sum(1).clamp_min(1), torch.zeros(k, dtype=torch.float64))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp_min(1e-12), 0.0)
    present = cm.sum(1) > 0  # macro-F1 over the classes that occur in this split
    return {
        "loss": loss,
        "accuracy": float((pred == target).double().mean()) if n else math.nan,
        "macro_f1": float(f1[present].mean()) if present.any() else math.nan,
        "error_rate": float((pred != target).double().mean()) if n else math.nan,
        "cases": n,
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(cm[i].sum()),
            }
            for i, c in enumerate(classes)
        },  # fmt: skip
        "confusion": cm.long().tolist(),
        "classes": classes,
    }
