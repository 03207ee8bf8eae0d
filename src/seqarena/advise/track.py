"""`seqarena advise --evaluate`: the advisor's track record. For each built-in dataset it measures the data, takes
the rules' shortlist, races it (advise/verify.py) and counts a hit when the top pick is the measured best or within
the 95% interval of the measured best. The hit rate comes with a Wilson interval: a handful of datasets says
little, and the page says so."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.advise import advise, from_data
from seqarena.advise.verify import race
from seqarena.files import atomic_write_text, write_json

DATASETS = (  # (task, data, task options): forecasting, classification and a long-range diagnostic
    ("forecast", "co2", {}),
    ("forecast", "synthetic", {}),
    ("forecast", "ETTh1", {"features": "S"}),
    ("classify", "GunPoint", {}),
    ("classify", "ItalyPowerDemand", {}),
    ("adding", "adding", {"length": 100, "n_train": 4000}),
)


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def track_record(out: Path, seconds: float = 120, log: Any = logs.info, **race_options: Any) -> dict[str, Any]:
    started = time.perf_counter()
    rows = []
    for task, data, options in DATASETS:
        log(f"== {task} on {data}")
        advice = advise(from_data(task, data, options))
        result = race(advice, out / f"{task}-{data}", seconds, {"name": task, "data": data, **options}, log=log,
                      **race_options)  # fmt: skip
        rows.append({"task": task, "data": data, "options": options, "top_pick": result["top_pick"],
                     "measured_best": result["measured_best"], "top_pick_rank": result["top_pick_rank"],
                     "hit": result["hit"], "rank_correlation": result["rank_correlation"],
                     "metric": result["metric"], "board": result["board"]})  # fmt: skip
        log(f"   rules: {result['top_pick']}; measured best: {result['measured_best']}; hit: {result['hit']}")
    hits = sum(r["hit"] for r in rows)
    low, high = wilson(hits, len(rows))
    doc = {"hits": hits, "datasets": len(rows), "hit_rate": hits / len(rows), "interval": [low, high],
           "seconds_per_race": seconds, "seconds": time.perf_counter() - started, "rows": rows}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "advisor.json", doc)
    atomic_write_text(out / "advisor.md", markdown(doc))
    return doc


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"Hit rate {doc['hits']}/{doc['datasets']} = {doc['hit_rate']:.0%} (95% Wilson interval "
        f"{doc['interval'][0]:.0%} to {doc['interval'][1]:.0%}); {doc['seconds_per_race']:.0f} s of training per race, "
        f"{doc['seconds']:.0f} s in all.",
        "",
        "| task | data | rules' top pick | measured best | top pick's measured rank | hit | rank correlation |",
        "|---|---|---|---|---:|---|---:|",
    ]
    for r in doc["rows"]:
        rho = "-" if r["rank_correlation"] is None else f"{r['rank_correlation']:.2f}"
        lines.append(f"| {r['task']} | {r['data']} | {r['top_pick']} | {r['measured_best']} | "
                     f"{r['top_pick_rank'] or '-'} | {'yes' if r['hit'] else 'no'} | {rho} |")  # fmt: skip
    return "\n".join(lines) + "\n"
