"""Hyper-parameter search: `tune(config, out, trials=20)` runs an Optuna study over the model family's default
search space (or yours), pruning trials on their per-epoch validation metric; see study.py for the directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.errors import SeqarenaError


def tune(
    config: dict[str, Any] | str | Path,
    out: str | Path,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    workers: int = 1,
    pruner: str | None = None,
    metric: str | None = None,
    space: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    seed: int = 0,
    executor: str = "local",
    address: str | None = None,
    log: Callable[[str], None] = logs.info,
) -> dict[str, Any]:
    """Search `trials` configurations (shared by `workers` processes, or by every process that runs the same config
    against the same `storage`); return the summary (best value and values, the default trial's value, how many were
    pruned) and write trials.json, best.yaml and report.md into `out`. Running it again on the same `out` continues
    the study up to `trials`."""
    from seqarena.extras import need
    from seqarena.tune import search, summary
    from seqarena.tune.study import open_study, prepare, write_study_json

    need("optuna", "tune", "hyper-parameter search")
    if workers < 1:
        raise SeqarenaError(f"--workers {workers}: give at least 1")
    if timeout is not None and timeout <= 0:
        raise SeqarenaError(f"--timeout {timeout}: give a positive number of seconds")
    out = Path(out)
    setup = prepare(config, out, trials=trials, storage=storage, pruner=pruner, metric=metric, space=space,
                    overrides=overrides, log=log)  # fmt: skip
    write_study_json(out, setup)
    log(f"study {setup.name}: {setup.trials} trials on val {setup.metric}, {setup.pruner} pruning, "
        f"{len(setup.space)} dimensions, {workers} worker(s); trial runs in {out / 'trials'}")  # fmt: skip
    search.start(setup, seed)
    if executor == "ray":
        search.run_ray(setup, workers, timeout, seed, address)
    elif executor == "local":
        search.run_workers(setup, workers, timeout, seed)
    else:
        raise SeqarenaError(f"unknown executor '{executor}' (executors: local, ray)")
    result = summary.summarize(open_study(setup, seed), setup)
    summary.write(out, result, setup)
    if result["best_trial"] is None:
        raise SeqarenaError(f"no trial of study {setup.name} completed; see {out / 'report.md'}")
    return result


__all__ = ["tune"]
