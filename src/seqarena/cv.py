"""Cross-validation: `cross_validate(config, out, folds=5)` trains one run per fold of a k-fold split of the
training cases (test untouched) and summarises the validation metrics, for tasks that declare folds (`cv_metrics`
and the task.folds / task.fold options; classification does).

Small sets (GunPoint has 50 training cases) leave a validation split of 10 cases, where nearly every recipe
scores 1.0; k folds validate on every training case once, and the mean validation loss ranks recipes that tie on
the primary metric. Each fold's run directory also evaluates test, as every run does: choose recipes by `cv.json`,
never by those test figures.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.config import parse, to_dict
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.files import write_json
from seqarena.registry import get_task
from seqarena.run import load, train


@dataclass
class CVResult:
    out: Path
    folds: int
    summary: dict[str, dict[str, Any]]  # metric -> {"mean", "std", "per_fold"}
    task: str  # the task name


def default_task() -> str:
    """The task `seqarena cv` runs without a config: the first registered one with folds."""
    from seqarena.registry import task_names

    return next(name for name in task_names() if get_task(name).cv_metrics)


def _task_with_folds(name: str) -> Any:
    task_cls = get_task(name)
    if not task_cls.cv_metrics:
        raise ConfigError(
            f"task '{name}' has no folds to cross-validate (task.folds); it validates on a fixed later part of its data"
        )
    return task_cls


def cross_validate(
    config: Any,
    out: str | Path,
    *,
    folds: int = 5,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = logs.info,
) -> CVResult:
    """Train `folds` runs (out/fold-<i>) that validate on each fold in turn; write out/cv.json."""
    cfg = parse(config, overrides)
    task_cls = _task_with_folds(cfg.task.name)
    if folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds (5 is usual)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SeqarenaError(f"{out} already exists; choose another --out")
    raw = to_dict(cfg)
    keys = task_cls.cv_metrics
    per_fold: list[dict[str, Any]] = []
    try:
        for fold in range(folds):
            raw["task"].update(folds=folds, fold=fold)
            result = train(raw, out / f"fold-{fold}", log=lambda m, f=fold: log(f"[fold {f + 1}/{folds}] {m}"))
            val = result.results["val"]
            per_fold.append({k: val[k] for k in keys} | {"best_epoch": result.training.get("best_epoch")})
            log(f"fold {fold + 1}/{folds}: " + ", ".join(f"val {k} {val[k]:.4f}" for k in keys))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # a partial cross-validation ranks nothing: leave none behind
        raise
    summary = {
        k: {
            "mean": statistics.fmean(f[k] for f in per_fold),
            "std": statistics.stdev(f[k] for f in per_fold),
            "per_fold": [f[k] for f in per_fold],
        }
        for k in keys
    }
    raw["task"].update(folds=None, fold=0)
    write_json(
        out / "cv.json",
        {"folds": folds, "config": raw, "val": summary, "best_epochs": [f["best_epoch"] for f in per_fold]},
    )
    return CVResult(out, folds, summary, cfg.task.name)


def ensemble_evaluate(out: str | Path, split: str = "test", batch_size: int = 256) -> dict[str, Any]:
    """Evaluate the averaged predictions of the fold models on a split (cross-validation bagging)."""
    out = Path(out)
    runs = sorted(out.glob("fold-*"), key=lambda p: int(p.name.split("-")[1]))
    if not runs or not (out / "cv.json").is_file():
        raise SeqarenaError(f"{out} is not a finished cross-validation (no cv.json); run `seqarena cv` first")
    if split == "val":
        raise ConfigError("each fold validates on other cases; an ensemble is evaluated on test (or train)")
    loaded = [load(r) for r in runs]
    return loaded[0].task.ensemble(loaded, split, batch_size)


def rank(results: list[CVResult]) -> list[CVResult]:
    """Best first: the better mean of the first summarised metric with a declared direction (classification:
    higher accuracy), ties broken by lower mean validation loss."""

    def key(r: CVResult) -> tuple[float, float]:
        task_cls = get_task(r.task)
        declared = {m.key: m for m in (task_cls.metric, *task_cls.quality)}
        metric = next(declared[k] for k in r.summary if k in declared)
        sign = -1 if metric.higher_is_better else 1
        return sign * round(r.summary[metric.key]["mean"], 6), r.summary["loss"]["mean"]

    return sorted(results, key=key)
