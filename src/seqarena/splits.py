"""The split names every task uses: train (fitting), val (model selection, early stopping), test (reporting)."""

from __future__ import annotations

from seqarena.errors import ConfigError

SPLITS = ("train", "val", "test")


def check_split(split: str, option: str = "--split") -> str:
    if split not in SPLITS:
        raise ConfigError(f"{option} must be one of {', '.join(SPLITS)}, not {split!r}")
    return split
