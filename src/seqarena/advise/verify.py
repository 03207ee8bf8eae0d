"""`seqarena advise --verify`: a time-boxed race of the shortlist, one outsider from each family the shortlist
leaves out, and the task's baselines, on the user's data through the arena; then where the rules and the
measurement agree: the measured rank of the top pick, whether it is within the 95% interval of the measured best,
and the rank correlation of the rules' order with the measured one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqarena import logs
from seqarena.errors import ConfigError

SEEDS = 2
SHORTLIST = 3


def entrants(advice: dict[str, Any]) -> list[str]:
    """The top of the shortlist plus the best-ranked model of every other family (one outsider each)."""
    ranked = advice["shortlist"] + advice["others"]
    chosen = [p["model"] for p in ranked[:SHORTLIST]]
    families = {p["family"] for p in ranked[:SHORTLIST]}
    for p in ranked[SHORTLIST:]:
        if p["family"] not in families:
            chosen.append(p["model"])
            families.add(p["family"])
    return chosen


def race(
    advice: dict[str, Any],
    out: Path,
    seconds: float,
    task: dict[str, Any],
    *,
    params: int = 50_000,
    log: Any = logs.info,
    workers: int | None = None,
    seeds: int = SEEDS,
    most: int | None = None,
) -> dict[str, Any]:
    """Run the race within about `seconds` of training in all; returns the measured board and the agreement."""
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse, task_class
    from seqarena.comparison import compare

    if seconds <= 0 or not math.isfinite(seconds):
        raise ConfigError(f"--budget seconds={seconds:g} is impossible; give a time > 0")
    models, dropped = sizable(entrants(advice)[:most], task, params)
    for name, why in dropped.items():
        log(f"race: {name} left out: {why}")
    spec = parse({"task": task, "models": models, "seeds": seeds, "workers": workers})
    n_runs = len(models) * seeds  # the trainable ones; parameter-free baselines take no budget
    parallel = spec.workers or _cores()
    per_run = max(1.0, seconds * parallel / n_runs)
    spec.budget = {"seconds": per_run, "params": params}
    spec.train = {"max_epochs": 1000, "patience": 5}
    log(f"race: {', '.join(models)} and the baselines, {seeds} seeds, {per_run:.0f} s per run")
    compare(spec, out, log=log)
    _, points = collect(out)
    board = [b for b in points[0]["board"] if b.get("runs")]
    metric = task_class(spec).metric
    return {"entrants": models, "left_out": dropped, "seconds_per_run": per_run, "seeds": seeds, "metric": metric.key,
            "higher_is_better": metric.higher_is_better, **agreement(advice, board, metric),
            "report": str(out / "report.html")}  # fmt: skip


def sizable(models: list[str], task: dict[str, Any], params: int) -> tuple[list[str], dict[str, str]]:
    """The entrants that can be built at `params` parameters on this data, and why the others cannot."""
    from seqarena.config import build
    from seqarena.errors import SeqarenaError
    from seqarena.registry import get_model, get_task
    from seqarena.sizing import has_width

    loaded = get_task(task["name"])(build({"task": task, "model": {"name": "lstm", "d_model": 8}}))
    keep, dropped = [], {}
    for name in models:
        sized = {"params": params} if has_width(get_model(name).Config()) else {}  # a linear map has no width
        try:
            loaded.resolve(build({"task": task, "model": {"name": name, **sized}}))
            keep.append(name)
        except SeqarenaError as exc:
            dropped[name] = str(exc).splitlines()[0]
    if not keep:
        raise ConfigError(f"no entrant of the race can be built: {next(iter(dropped.values()))}")
    return keep, dropped


def _cores() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def agreement(advice: dict[str, Any], board: list[dict[str, Any]], metric: Any) -> dict[str, Any]:
    """How the measured board (best first) compares with the rules' ranking."""
    key = f"test_{metric.key}"
    measured = [b["label"] for b in board if isinstance(b.get(key), (int, float))]
    if not measured:
        raise ConfigError("no entrant of the race finished; see the arena report for the errors")
    best = next(b for b in board if b["label"] == measured[0])
    rules_order = [p["model"] for p in advice["shortlist"] + advice["others"]]
    top = rules_order[0]
    top_line = next((b for b in board if b["label"] == top), None)
    hit = False
    if top_line is not None and isinstance(top_line.get(key), (int, float)):
        ci = best.get(f"{key}_ci")
        ci = ci if isinstance(ci, (int, float)) and math.isfinite(ci) else 0.0
        hit = top == measured[0] or abs(top_line[key] - best[key]) <= ci
    ranked = [m for m in measured if m in rules_order]
    rho = None
    if len(ranked) >= 3:
        rho = spearman([rules_order.index(m) for m in ranked], list(range(len(ranked))))
    lines = [{"model": b["label"], "value": b.get(key), "ci": b.get(f"{key}_ci"),
              "rules_rank": rules_order.index(b["label"]) + 1 if b["label"] in rules_order else None}
             for b in board]  # fmt: skip
    return {
        "board": lines,
        "measured_best": measured[0],
        "top_pick": top,
        "top_pick_rank": measured.index(top) + 1 if top in measured else None,
        "hit": hit,
        "rank_correlation": rho,
    }


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation: Pearson's on the ranks (ties share their mean rank)."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])
