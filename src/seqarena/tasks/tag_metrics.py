"""Sequence-labelling metrics: span-level precision/recall/F1 and token accuracy, and the most-frequent-tag
baseline. Tags in a chunking scheme (IOB1/IOB2/IOBES: B-PER, I-PER, O) are scored as spans by seqeval's
conlleval-compatible default mode; plain tags (part-of-speech: NOUN, VERB) count each token as its own span, so
their micro F1 over tokens not tagged "O" equals token accuracy when no token is "O"."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

from seqarena.extras import need

PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")


def scheme_of(tags: list[str]) -> str:
    """ "chunks" when every tag is O or prefixed (B-/I-/E-/S-/L-/U-) and some are prefixed, else "plain"."""
    prefixed = [t.startswith(PREFIXES) for t in tags if t != "O"]
    return "chunks" if prefixed and all(prefixed) else "plain"


def tagging_metrics(true: list[list[str]], pred: list[list[str]], scheme: str) -> dict[str, Any]:
    """Token accuracy and span precision, recall and F1 (micro), and F1 per entity type."""
    n = sum(len(s) for s in true)
    correct = sum(a == b for s, p in zip(true, pred, strict=True) for a, b in zip(s, p, strict=True))
    out: dict[str, Any] = {"accuracy": correct / max(n, 1), "tokens": n}
    if scheme == "chunks":
        metrics = need("seqeval.metrics", "label", "span F1 for sequence labelling (seqeval)")
        with warnings.catch_warnings():  # a type absent from a split: seqeval warns and scores it 0
            warnings.simplefilter("ignore")
            report = metrics.classification_report(true, pred, output_dict=True, zero_division=0)
        micro = report["micro avg"]
        out |= {"precision": float(micro["precision"]), "recall": float(micro["recall"]),
                "f1": float(micro["f1-score"])}  # fmt: skip
        kinds = {k: v for k, v in report.items() if not k.endswith(" avg")}
        out["per_type_f1"] = {k: float(v["f1-score"]) for k, v in sorted(kinds.items())}
        return out
    flat_true = [t for s in true for t in s]
    flat_pred = [t for s in pred for t in s]
    hits = sum(a == b and a != "O" for a, b in zip(flat_true, flat_pred, strict=True))
    n_pred, n_true = sum(t != "O" for t in flat_pred), sum(t != "O" for t in flat_true)
    precision, recall = hits / max(n_pred, 1), hits / max(n_true, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out |= {"precision": precision, "recall": recall, "f1": f1}
    per_type = {}
    for kind in sorted(set(flat_true) - {"O"}):
        tp = sum(a == b == kind for a, b in zip(flat_true, flat_pred, strict=True))
        denominator = flat_true.count(kind) + flat_pred.count(kind)
        per_type[kind] = 2 * tp / denominator if denominator else 0.0
    out["per_type_f1"] = per_type
    return out


def most_frequent_tags(tokens: list[list[str]], tags: list[list[str]]) -> tuple[dict[str, str], str]:
    """Each training token's commonest tag (ties: the alphabetically first), and the commonest tag overall (for
    tokens never seen in training)."""
    counts: dict[str, Counter[str]] = {}
    overall: Counter[str] = Counter()
    for sentence, labels in zip(tokens, tags, strict=True):
        for token, tag in zip(sentence, labels, strict=True):
            counts.setdefault(token, Counter())[tag] += 1
            overall[tag] += 1
    best = {tok: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for tok, c in counts.items()}
    return best, min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]
