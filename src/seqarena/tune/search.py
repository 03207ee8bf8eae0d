"""Running a study: each trial trains a normal run with the trial's values; every epoch reports the validation
metric to the pruner, which may stop the trial there. Several workers (processes on this machine, or processes on
other machines given the same config and a shared --storage) draw trials of one study until it holds `trials`
finished ones (complete, pruned or failed)."""

from __future__ import annotations

import copy
import json
import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.errors import SeqarenaError
from seqarena.tune.space import Dimension, dimension
from seqarena.tune.study import Setup, finite, open_study, remove_checkpoint


class _Pruned(Exception):  # noqa: N818 - a signal, not an error
    """Raised from the epoch hook; turned into optuna.TrialPruned outside the training loop."""


def trial_config(setup: Setup, values: dict[str, Any]) -> dict[str, Any]:
    """The run config of a trial: the base with the trial's values set."""
    from seqarena.config import set_dotted

    raw = copy.deepcopy(setup.base)
    for key, value in values.items():
        set_dotted(raw, f"{key}={json.dumps(value)}")
    return raw


def _objective(setup: Setup, dims: list[Dimension], log: Callable[[str], None]) -> Callable[[Any], float]:
    import optuna

    from seqarena.run import train

    def objective(trial: Any) -> float:
        values = {d.key: d.suggest(trial) for d in dims}
        run_dir = Path(setup.out) / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        key = f"val_{setup.metric}"

        def report(record: dict[str, Any]) -> None:
            value = record.get(key)
            if not finite(value):
                raise SeqarenaError(
                    f"the training loop reports no finite {key} per epoch (got {value!r}); pass --metric loss"
                )
            trial.report(float(value), record["epoch"])
            if trial.should_prune():
                raise _Pruned(record["epoch"])

        started = time.perf_counter()
        try:
            result = train(trial_config(setup, values), run_dir, log=lambda _: None, on_epoch=report)
        except SeqarenaError as exc:
            log(f"trial {trial.number}: failed: {exc}  {_show(values)}")
            trial.set_user_attr("error", str(exc))
            raise
        except _Pruned as stop:
            trial.set_user_attr("epochs", int(stop.args[0]))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            log(f"trial {trial.number}: pruned after epoch {stop.args[0]}  {_show(values)}")
            raise optuna.TrialPruned() from None
        finally:
            remove_checkpoint(run_dir)
        value = result.results["val"].get(setup.metric)
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("params", result.params)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        if not finite(value):
            raise SeqarenaError(f"trial {trial.number}: validation {setup.metric} is {value!r}")
        log(f"trial {trial.number}: val {setup.metric} {value:.5g} in {len(result.history)} epochs  {_show(values)}")
        return float(value)

    return objective


def _show(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def work(setup: Setup, seed: int, threads: int | None, timeout: float | None, quiet: bool = False,
         quota: int | None = None) -> int:  # fmt: skip
    """One worker: at most `quota` trials (this machine's workers split the study's remaining trials exactly), and
    none once the study holds `setup.trials` finished ones (workers on other machines), or after `timeout` seconds.
    Returns how many this worker ran."""
    import optuna
    import torch

    if threads:
        torch.set_num_threads(threads)
    study = open_study(setup, seed)
    dims = [dimension(k, v) for k, v in setup.space.items()]
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    before = len(study.get_trials(deepcopy=False, states=states))
    if before >= setup.trials or quota == 0:
        return 0
    log = (lambda _: None) if quiet else logs.info
    study.optimize(
        _objective(setup, dims, log),
        n_trials=quota if quota is not None else setup.trials - before,  # the callback stops it at the total
        timeout=timeout,
        callbacks=[optuna.study.MaxTrialsCallback(setup.trials, states=states)],
        catch=(SeqarenaError,),  # a diverged or impossible trial fails; the study goes on
        gc_after_trial=True,
    )
    return len(study.get_trials(deepcopy=False, states=states)) - before


def start(setup: Setup, seed: int) -> None:
    """Create the study (its tables, once, before any worker opens it) and queue the config as given as its
    first trial."""
    import optuna

    study = open_study(setup, seed)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(setup.default, user_attrs={"default": True}, skip_if_exists=True)
    elif setup.storage.startswith("sqlite"):  # only this machine uses it: a trial still running was killed
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def run_workers(setup: Setup, workers: int, timeout: float | None, seed: int) -> None:
    """`workers` processes on this machine sharing the study (threads split between them); one runs in-process."""
    from seqarena.training.distributed import cores

    if workers <= 1:
        work(setup, seed, None, timeout)
        return
    threads = max(1, cores() // workers)
    shares = _shares(setup, workers)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(work, setup, seed + i, threads, timeout, False, n) for i, n in enumerate(shares)]
        for future in futures:
            future.result()


def _shares(setup: Setup, workers: int) -> list[int]:
    """The study's remaining trials split between `workers` (so the study ends with exactly `setup.trials`)."""
    import optuna

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    left = max(setup.trials - len(open_study(setup).get_trials(deepcopy=False, states=finished)), 0)
    return [left // workers + (i < left % workers) for i in range(workers)]


def run_ray(setup: Setup, workers: int, timeout: float | None, seed: int, address: str | None) -> None:
    """The same workers as Ray tasks (one CPU each) on a cluster; the storage must be reachable from every node
    and --out a shared filesystem path."""
    from seqarena.extras import need

    ray = need("ray", "ray")
    if setup.storage.startswith("sqlite"):
        raise SeqarenaError("--executor ray needs a --storage every node reaches (e.g. postgresql://...), not SQLite")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(work)
        ray.get([remote.remote(setup, seed + i, 1, timeout, True, n) for i, n in enumerate(_shares(setup, workers))])
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["start", "work", "run_workers", "run_ray", "trial_config"]
