"""Steady latency: the default arena (`seqarena compare`, no arguments) run twice from scratch, and every entrant's
batch-1 latency compared between the two runs, printed as JSON. Target: every difference within 20%.

Each latency is the arena's own figure (seqarena.profile.timed: one thread, a warm-up, the median of repeated calls);
the difference of an entrant is |A - B| / min(A, B) per series, model and seed. About 6 minutes on 2 cores.

    .venv/bin/python benchmarks/arena_latency.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from seqarena.arena.results import collect

TARGET = 0.20


def latencies(arena_dir: Path) -> dict[str, float]:
    """(series | model | seed) -> batch-1 latency in ms of every finished run of the arena."""
    _, points = collect(arena_dir)
    out = {}
    for point in points:
        series = ",".join(str(v) for v in point["point"].values()) or "-"
        for entry in point["entries"]:
            result = entry["row"]["result"] or {}
            ms = (result.get("profile") or {}).get("latency_b1_ms")
            if ms is not None:
                out[f"{series} | {entry['label']} | seed {entry['seed']}"] = ms
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for name in ("A", "B"):
            out = Path(tmp) / name
            cmd = [sys.executable, "-m", "seqarena", "compare", "--out", str(out)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            runs.append(latencies(out))
    a, b = runs
    rows = [
        {"entrant": k, "a_ms": a[k], "b_ms": b[k], "difference": round(abs(a[k] - b[k]) / min(a[k], b[k]), 3)}
        for k in sorted(a.keys() & b.keys())
    ]
    worst = max(r["difference"] for r in rows)
    print(json.dumps({"benchmark": "arena_latency", "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "entrants": rows, "largest_difference": worst, "target": TARGET,
                      "meets_target": worst <= TARGET}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
