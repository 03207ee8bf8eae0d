"""What the recipe benchmarks print of several seeded runs: each metric's mean, spread and per-seed values."""

from __future__ import annotations

import statistics
from typing import Any


def over_seeds(runs: list[Any], keys: tuple[str, ...], split: str = "test") -> dict[str, Any]:
    """{split}_{key}_mean, _std (None for one run) and _per_seed of finished runs' results, rounded to 4 places."""
    row: dict[str, Any] = {}
    for key in keys:
        values = [r.results[split][key] for r in runs]
        row[f"{split}_{key}_mean"] = round(statistics.mean(values), 4)
        row[f"{split}_{key}_std"] = round(statistics.stdev(values), 4) if len(values) > 1 else None
        row[f"{split}_{key}_per_seed"] = [round(v, 4) for v in values]
    return row
