"""What the claim experiments share: seeded training runs through seqarena's own engine, means with 95% intervals
across seeds, the activation memory a training step keeps for backward, and a cache so that claims reading one
sweep (the length sweep of the recurrence claims) train it once per process."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqarena.arena.stats import mean_ci
from seqarena.claims.base import Figure
from seqarena.errors import SeqarenaError
from seqarena.profile import saved_bytes  # noqa: F401 - the claims import it from here

_CACHE: dict[str, Any] = {}


def memo(key: str, fn: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        _CACHE[key] = fn()
    return _CACHE[key]


def clear() -> None:
    _CACHE.clear()


def train(raw: dict[str, Any], root: Path) -> dict[str, Any]:
    """One run of `raw` (a nested run config) under `root`; a diverged or refused run comes back with "error"."""
    from seqarena.run import train as run_train

    raw = json.loads(json.dumps(raw))
    raw.setdefault("train", {})["progress"] = False
    key = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:12]
    try:
        result = run_train(raw, root / key, log=lambda _: None)
    except SeqarenaError as exc:
        return {"error": str(exc).splitlines()[0]}
    history = result.history
    return {
        "run_dir": root / key,
        "test": result.results["test"],
        "val": result.results.get("val", {}),
        "history": history,
        "params": result.params,
        "seconds": sum(h["seconds"] for h in history),
        "samples_per_s": history[-1]["samples_per_s"] if history else None,
    }


def seeded(raw: dict[str, Any], seeds: list[int], root: Path) -> list[dict[str, Any]]:
    return [train({**raw, "train": {**raw.get("train", {}), "seed": s}}, root) for s in seeds]


def stat(values: list[float]) -> tuple[float, float | None]:
    """Mean and 95% half-width across seeds (None with one value); NaN mean when nothing finished."""
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        return math.nan, None
    mean, ci = mean_ci(values)
    return mean, None if math.isnan(ci) else ci


def figure(label: str, values: list[float], unit: str = "") -> Figure:
    mean, ci = stat(values)
    return Figure(label, None if math.isnan(mean) else mean, ci, unit)


def metric(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [r["test"][key] for r in runs if "test" in r]


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"
