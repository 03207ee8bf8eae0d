"""Generation metrics on the words of decoded text, so they compare across tokenizers: repetition rate (share
of a sample's n-grams that repeat an earlier one in it), distinct-n, and the share of generated n-grams copied
from the training text."""

from __future__ import annotations

import numpy as np


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def repetition_rate(samples: list[str], n: int = 4) -> float:
    """Mean over samples of the share of n-grams already seen earlier in the same sample."""
    rates = []
    for text in samples:
        grams = _ngrams(text.split(), n)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    return float(np.mean(rates)) if rates else 0.0


def distinct_n(samples: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams, across the samples (Li et al. 2016)."""
    grams = [g for text in samples for g in _ngrams(text.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


class NgramIndex:
    """Hashes of every word n-gram of a text, for copy-rate look-ups (64-bit hashes; collisions negligible)."""

    def __init__(self, text: str, n: int = 4) -> None:
        self.n = n
        self.words: dict[str, int] = {}
        ids = np.array([self.words.setdefault(w, len(self.words)) for w in text.split()], dtype=np.uint64)
        self.hashes = np.unique(self._hash(ids)) if len(ids) >= n else np.zeros(0, dtype=np.uint64)

    def _hash(self, ids: np.ndarray) -> np.ndarray:
        h = np.zeros(len(ids) - self.n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(self.n):
                h = h * np.uint64(1_000_003) + ids[k : len(ids) - self.n + 1 + k] + np.uint64(1)
        return h

    def copy_rate(self, samples: list[str]) -> float:
        """Share of the samples' word n-grams that occur in the indexed text."""
        found = total = 0
        for text in samples:
            words = text.split()
            if len(words) < self.n:
                continue
            unknown = len(self.words)  # a word never seen in training cannot be part of a copied n-gram
            ids = np.array([self.words.get(w, unknown) for w in words], dtype=np.uint64)
            hashes = self._hash(ids)
            valid = np.lib.stride_tricks.sliding_window_view(ids != unknown, self.n).all(axis=1)
            found += int((np.isin(hashes, self.hashes) & valid).sum())
            total += len(hashes)
        return found / total if total else 0.0


def generation_metrics(samples: list[str], index: NgramIndex | None = None) -> dict[str, float]:
    out = {
        "repetition_rate": repetition_rate(samples, 4),
        "distinct_1": distinct_n(samples, 1),
        "distinct_2": distinct_n(samples, 2),
    }
    if index is not None:
        out["copy_rate"] = index.copy_rate(samples)
    return out
