"""A tuned arena (`budget: {tune: {trials: N, epochs: E}}`): every trainable entrant first gets the same number of
Optuna trials (each capped at E epochs or S seconds) on the validation split, with its first seed; then all its
seeds train on its best config. The choice per entrant lands in tune/chosen.json, which the report reads to find
the tuned runs, states the budget and each entrant's values, and says whether tuning changed the ranking."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqarena.config import set_dotted
from seqarena.files import read_json, write_json


def group_id(plan: Any) -> str:
    """One study per entrant and sweep point."""
    digest = hashlib.sha256(json.dumps(plan.point, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.label)[:60] + "-" + digest


def _tunable(plan: Any) -> bool:
    from seqarena.registry import get_model

    cls = get_model(str(plan.raw["model"]["name"]))
    return cls.capabilities_of(cls.Config()).trainable


def tune_entrants(spec: Any, plans: list[Any], out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Run (or continue) each entrant's study; return and save what each chose."""
    from seqarena.training.distributed import cores
    from seqarena.tune import tune

    budget = spec.budget["tune"]
    chosen = load_chosen(out)
    firsts: dict[str, Any] = {}
    for plan in plans:
        if _tunable(plan):
            firsts.setdefault(group_id(plan), plan)
    for gid, plan in firsts.items():
        raw = json.loads(json.dumps(plan.raw))
        raw["train"]["seed"] = spec.seeds[0]
        if budget["epochs"] is not None:
            raw["train"]["max_epochs"] = budget["epochs"]
        if budget["seconds"] is not None:
            raw["train"]["max_seconds"] = budget["seconds"]
        log(f"tuning {plan.label}: {budget['trials']} trials")
        result = tune(raw, out / "tune" / gid, trials=budget["trials"], pruner=budget["pruner"],
                      workers=min(spec.workers or cores(), budget["trials"]), log=lambda _: None)  # fmt: skip
        keys = ("best_params", "default_value", "best_value", "metric", "direction", "trials", "pruned", "complete")
        chosen[gid] = {key: result[key] for key in keys}
        log(f"tuned {plan.label}: {result['metric']} {result['default_value']:.4g} (as given) -> "
            f"{result['best_value']:.4g}; {result['pruned']} of {result['trials']} trials pruned")  # fmt: skip
        write_json(out / "tune" / "chosen.json", chosen)
    return chosen


def load_chosen(out: Path) -> dict[str, Any]:
    path = out / "tune" / "chosen.json"
    return read_json(path) if path.is_file() else {}


def apply(plans: list[Any], chosen: dict[str, Any]) -> None:
    """Each tuned entrant's plans with its best values set (a new run key: another config)."""
    from seqarena.arena.spec import run_key

    for plan in plans:
        pick = chosen.get(group_id(plan))
        if pick is None:
            continue
        for key, value in pick["best_params"].items():
            set_dotted(plan.raw, f"{key}={json.dumps(value)}")
        plan.key = run_key(plan.raw)
        plan.tuning = pick


def lines(entries: list[dict[str, Any]], budget: dict[str, Any]) -> list[str]:
    """The report's sentences on tuning: the budget, each entrant's change and values, the ranking before/after."""
    picks: dict[str, dict[str, Any]] = {}
    for e in entries:
        tuning = ((e["row"].get("result") or {}).get("tuning")) if e["row"].get("status") == "ok" else None
        if tuning:
            picks.setdefault(e["label"], tuning)
    if not picks:
        return []
    cap = f", each at most {budget['epochs']} epochs" if budget.get("epochs") else ""
    cap += f", {budget['seconds']:g} s" if budget.get("seconds") else ""
    metric = next(iter(picks.values()))["metric"]
    out = [f"Tuned: every trainable entrant had {budget['trials']} trials (TPE, {budget.get('pruner', 'median')} "
           f"pruning{cap}) on the validation split, the first being its config as given; its seeds then trained on "
           f"its best values."]  # fmt: skip
    for label, t in picks.items():
        values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["best_params"].items())
        out.append(f"{label}: {metric} {t['default_value']:.4g} as given -> {t['best_value']:.4g} tuned "
                   f"({t['pruned']} of {t['trials']} trials pruned); {values}")  # fmt: skip
    before = sorted(picks, key=lambda k: picks[k]["default_value"])
    after = sorted(picks, key=lambda k: picks[k]["best_value"])
    if "maximize" in str(next(iter(picks.values())).get("direction", "")):
        before, after = before[::-1], after[::-1]
    verdict = "unchanged" if before == after else "changed"
    out.append(f"Ranking on {metric}, best first: as given {', '.join(before)}; tuned {', '.join(after)} ({verdict}).")
    return out


__all__ = ["tune_entrants", "apply", "load_chosen", "lines", "group_id"]
