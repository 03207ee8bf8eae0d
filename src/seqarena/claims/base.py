"""A claim of the folklore as a named, seeded experiment: what the articles say and where, the experiment at three
scales (tiny for the tests, quick for 30 minutes on a laptop, full), the figures it measured and a verdict.

A claim module registers each experiment with `@claim(...)`; the function takes the scale's sizes and a working
directory and returns a Finding. Verdicts: holds, refuted, depends (and on what), pending (it cannot run here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqarena.errors import ConfigError, did_you_mean

SCALES = ("tiny", "quick", "full")
VERDICTS = ("holds", "refuted", "depends", "pending")


@dataclass
class Figure:
    label: str  # what was measured, e.g. "rnn, adding T=50: test MSE"
    value: float | None
    ci: float | None = None  # half-width of the 95% interval across seeds; None with one seed
    unit: str = ""


@dataclass
class Finding:
    verdict: str
    because: str  # one plain sentence with the decisive figures
    figures: list[Figure] = field(default_factory=list)
    table: dict[str, Any] | None = None  # {"columns": [...], "rows": [[...], ...]} when a table says it better

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str  # the claim, paraphrased
    source: str  # where such articles make it
    experiment: str  # task, models, budget, seeds, in words
    sizes: dict[str, dict[str, Any]]  # scale -> the experiment's sizes
    run: Callable[[dict[str, Any], Path], Finding]


_CLAIMS: dict[str, Claim] = {}
_MODULES = ("seqarena.claims.recurrence", "seqarena.claims.transformers", "seqarena.claims.cost")


def claim(
    name: str, *, statement: str, source: str, experiment: str, sizes: dict[str, dict[str, Any]]
) -> Callable[[Callable[[dict[str, Any], Path], Finding]], Callable[[dict[str, Any], Path], Finding]]:
    missing = [s for s in SCALES if s not in sizes]
    if missing:
        raise ValueError(f"claim {name}: no sizes for scale(s) {missing}")

    def wrap(fn: Callable[[dict[str, Any], Path], Finding]) -> Callable[[dict[str, Any], Path], Finding]:
        _CLAIMS[name] = Claim(name, statement, source, experiment, sizes, fn)
        return fn

    return wrap


def claims() -> dict[str, Claim]:
    import importlib

    for module in _MODULES:
        importlib.import_module(module)
    return dict(_CLAIMS)


def select(only: list[str] | None) -> list[Claim]:
    table = claims()
    if not only:
        return list(table.values())
    unknown = [n for n in only if n not in table]
    if unknown:
        hint = did_you_mean(unknown[0], list(table))
        raise ConfigError(f"unknown claim '{unknown[0]}'{hint} (see `seqarena claims --list`)")
    return [table[n] for n in only]
