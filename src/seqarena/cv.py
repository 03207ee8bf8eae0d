"""Cross-validation for classification: `cross_validate(config, out, folds=5)` trains one run per fold of a
stratified k-fold split of the training cases (test untouched) and summarises the validation metrics.

Small sets (GunPoint has 50 training cases) leave a validation split of 10 cases, where nearly every recipe
scores 1.0; k folds validate on every training case once, and the mean validation loss ranks recipes that tie on
accuracy. Each fold's run directory also evaluates test, as every run does: choose recipes by `cv.json`, never by
those test figures.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqarena.config import to_dict
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.run import resolve, train
from seqarena.training.checkpoint import write_json

SUMMARISED = ("accuracy", "loss", "macro_f1")


@dataclass
class CVResult:
    out: Path
    folds: int
    summary: dict[str, dict[str, Any]]  # metric -> {"mean", "std", "per_fold"}


def cross_validate(
    config: Any,
    out: str | Path,
    *,
    folds: int = 5,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> CVResult:
    """Train `folds` runs (out/fold-<i>) that validate on each fold in turn; write out/cv.json."""
    cfg = resolve(config, overrides)
    if cfg.task.name != "classify":
        raise ConfigError(
            f"cross-validation is for classification (task.name=classify), not {cfg.task.name}: forecasting and "
            f"language models validate on the later part of their series or corpus"
        )
    if folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds (5 is usual)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SeqarenaError(f"{out} already exists; choose another --out")
    raw = to_dict(cfg)
    per_fold: list[dict[str, Any]] = []
    try:
        for fold in range(folds):
            raw["task"].update(folds=folds, fold=fold)
            result = train(raw, out / f"fold-{fold}", log=lambda m, f=fold: log(f"[fold {f + 1}/{folds}] {m}"))
            val = result.results["val"]
            per_fold.append({k: val[k] for k in SUMMARISED} | {"best_epoch": result.training.get("best_epoch")})
            log(f"fold {fold + 1}/{folds}: val accuracy {val['accuracy']:.4f}, val loss {val['loss']:.4f}")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # a partial cross-validation ranks nothing: leave none behind
        raise
    summary = {
        k: {
            "mean": statistics.fmean(f[k] for f in per_fold),
            "std": statistics.stdev(f[k] for f in per_fold),
            "per_fold": [f[k] for f in per_fold],
        }
        for k in SUMMARISED
    }
    raw["task"].update(folds=None, fold=0)
    write_json(
        out / "cv.json",
        {"folds": folds, "config": raw, "val": summary, "best_epochs": [f["best_epoch"] for f in per_fold]},
    )
    return CVResult(out, folds, summary)


def ensemble_evaluate(out: str | Path, split: str = "test", batch_size: int = 256) -> dict[str, Any]:
    """Evaluate the average of the fold models' class probabilities on a split (cross-validation bagging, as
    InceptionTime averages 5 networks). Each fold model sees the split through its own run's preprocessing."""
    import torch

    from seqarena.run import load
    from seqarena.tasks.classify import ClassifyTask
    from seqarena.tasks.classify_metrics import classification_metrics

    out = Path(out)
    runs = sorted(out.glob("fold-*"), key=lambda p: int(p.name.split("-")[1]))
    if not runs or not (out / "cv.json").is_file():
        raise SeqarenaError(f"{out} is not a finished cross-validation (no cv.json); run `seqarena cv` first")
    if split == "val":
        raise ConfigError("each fold validates on other cases; an ensemble is evaluated on test (or train)")
    total, classes, target = None, None, None
    for run_dir in runs:
        run = load(run_dir)
        task = ClassifyTask.for_run(run.config, run_dir)
        if classes is not None and task.classes != classes:
            raise SeqarenaError(f"{run_dir} learnt other classes than fold 0; its probabilities cannot be averaged")
        classes, target = task.classes, task.y[split]
        probs = task.predict_proba(run.model, task.x[split], batch_size, torch.device("cpu"))  # (N, K)
        total = probs if total is None else total + probs
    assert total is not None and classes is not None and target is not None
    return {**classification_metrics(total / len(runs), target, classes), "members": len(runs)}


def rank(results: list[CVResult]) -> list[CVResult]:
    """Best first: higher mean validation accuracy, ties broken by lower mean validation loss."""
    return sorted(results, key=lambda r: (-round(r.summary["accuracy"]["mean"], 6), r.summary["loss"]["mean"]))
