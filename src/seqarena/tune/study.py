"""Hyper-parameter search on Optuna: TPE sampling, median or Hyperband pruning on the training loop's per-epoch
validation metric, SQLite storage in the study directory by default (a PostgreSQL URL when several machines share a
study). The first trial is the config as given, so the study always reports how far tuning moved from the default.

A study directory holds study.json (what is searched, on what metric), trials/NNNN/ (each trial a normal run
directory, its checkpoint removed once it ends), and after the search trials.json, best.yaml (the best trial's
config, a run config for `seqarena train`) and report.md with its plots.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from seqarena.config import load_yaml, parse, set_dotted, to_dict
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.extras import need
from seqarena.files import check_writable, read_json, write_json
from seqarena.shared_db import opened
from seqarena.tune.space import Dimension, build_space

PRUNERS = ("median", "hyperband", "none")
TUNE_KEYS = ("space", "trials", "pruner", "metric")


@dataclass
class Setup:
    """Everything a worker needs to run trials of one study (JSON-serialisable, so it crosses processes)."""

    name: str
    storage: str
    base: dict[str, Any]  # the run config every trial starts from (model.params fixed when layers vary)
    space: dict[str, Any]  # the merged space, as YAML writes it
    metric: str  # the validation metric: a key of the task's val results, e.g. mse or loss
    direction: str  # minimize | maximize
    pruner: str
    trials: int
    default: dict[str, Any]  # the given config's value of every dimension (clipped into the space)
    out: str


def split_config(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run config and its optional `tune:` section (space, trials, pruner, metric)."""
    raw = copy.deepcopy(raw)
    section = raw.pop("tune", None) or {}
    if not isinstance(section, dict):
        raise ConfigError("the tune: section must be a mapping (space, trials, pruner, metric)")
    unknown = [k for k in section if k not in TUNE_KEYS]
    if unknown:
        raise ConfigError(f"tune: unknown key(s) {unknown} (keys: {', '.join(TUNE_KEYS)})")
    return raw, section


def _direction(task_cls: Any, metric: str) -> str:
    if metric == "loss":
        return "minimize"
    known = {m.key: m for m in (task_cls.metric, *getattr(task_cls, "quality", ()))}
    if metric not in known:
        raise ConfigError(f"--metric {metric}: task '{task_cls.name}' validates on loss, {', '.join(known)}")
    return "maximize" if known[metric].higher_is_better else "minimize"


def _clip(dim: Dimension, value: Any) -> Any:
    """The given config's value of a dimension, moved into the space if it lies outside (weight decay 0 on a log
    scale becomes the low end)."""
    if dim.choices is not None:
        return value if value in dim.choices else dim.choices[0]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return int(dim.low) if dim.integer else dim.low
    value = min(max(value, dim.low), dim.high)
    return int(round(value)) if dim.integer else float(value)


def _dotted(cfg: Any, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(cfg, section), name)


def prepare(
    config: dict[str, Any] | str | Path,
    out: Path,
    *,
    trials: int | None,
    storage: str | None,
    pruner: str | None,
    metric: str | None,
    space: dict[str, Any] | None,
    overrides: list[str] | None,
    log: Callable[[str], None],
) -> Setup:
    """Check everything and work out the study (loads the data once, for the default values and the parameter
    count); a study directory that exists must belong to the same study."""
    from seqarena.models.base import count_params
    from seqarena.registry import get_model, get_task
    from seqarena.sizing import has_width
    from seqarena.training.defaults import adapt

    raw, section = split_config(load_yaml(config) if isinstance(config, (str, Path)) else dict(config))
    trials = int(trials if trials is not None else section.get("trials", 20))
    pruner = str(pruner or section.get("pruner", "median"))
    if trials < 1:
        raise ConfigError(f"--trials {trials}: give at least 1")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner {pruner}: choose one of {', '.join(PRUNERS)}")
    cfg = parse(raw, overrides)
    task_cls = get_task(cfg.task.name)
    metric = str(metric or section.get("metric") or task_cls.metric.key)
    direction = _direction(task_cls, metric)
    merged = {**(section.get("space") or {}), **(space or {})}
    dims = build_space(cfg.model.name, merged)
    base = to_dict(cfg)
    base["train"]["progress"] = False
    for dim in dims:  # every key must take its values: a typo or a bad range fails now, not in trial 7
        probe = copy.deepcopy(base)
        for value in dim.choices or (dim.low, dim.high):
            set_dotted(probe, f"{dim.key}={json.dumps(int(value) if dim.integer else value)}")
            parse(probe)
    task = task_cls(cfg)
    if not task.validates:
        raise ConfigError(f"{cfg.task.data} has no validation split here; tuning needs one to judge trials by")
    resolved, _ = adapt(task.cfg, task.n_train(), task.validates)
    widths = has_width(get_model(cfg.model.name).Config())
    if widths and base["model"].get("params") is None and any(d.key == "model.num_layers" for d in dims):
        base["model"]["params"] = count_params(task.build_model(resolved))  # layers vary at this size
        log(f"layers vary at a fixed size: model.params={base['model']['params']:,} (the given config's)")
    default = {d.key: _clip(d, _dotted(resolved, d.key)) for d in dims}
    space_yaml = {d.key: (list(d.choices) if d.choices is not None else
                          {"low": d.low, "high": d.high, "log": d.log, "int": d.integer}) for d in dims}  # fmt: skip
    digest = hashlib.sha256(json.dumps([base, space_yaml, metric], sort_keys=True, default=str).encode()).hexdigest()
    name = f"{cfg.model.name}-{Path(str(cfg.task.data)).stem}-{digest[:10]}"
    setup = Setup(name, storage or f"sqlite:///{(out / 'study.db').resolve()}", base, space_yaml, metric, direction,
                  pruner, trials, default, str(out))  # fmt: skip
    _check_out(out, setup)
    return setup


def _check_out(out: Path, setup: Setup) -> None:
    if out.exists() and not out.is_dir():
        raise SeqarenaError(f"--out {out} is a file; give a folder for the study")
    saved = out / "study.json"
    if saved.is_file():
        old = read_json(saved)
        if old.get("name") != setup.name:
            raise SeqarenaError(
                f"{out} holds another study ({old.get('name')}); its config, space or metric differ: choose another "
                f"--out, or the same config to continue it"
            )
        if old.get("storage") != _sanitized(setup.storage):
            raise SeqarenaError(
                f"{out} keeps its study in {old.get('storage')}; give that --storage to continue it, or another --out"
            )
    elif out.is_dir() and any(out.iterdir()):
        raise SeqarenaError(f"--out {out} already exists and holds something else; choose another --out")
    check_writable(out, "--out")


def _sanitized(url: str) -> str:
    """A storage URL without its password, for files and logs."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}:***@{tail}"


def open_study(setup: Setup, seed: int = 0) -> Any:
    optuna = need("optuna", "tune", "hyper-parameter search")
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are logged as one line each
    kwargs: dict[str, Any] = {}
    if setup.storage.startswith("sqlite"):  # this machine's workers only: start() fails a killed run's trials
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}  # several local workers wait, never fail
    else:  # workers on other machines: a trial whose worker stopped beating for 10 minutes counts as failed
        kwargs |= {"heartbeat_interval": 60, "grace_period": 600}
    try:
        with warnings.catch_warnings():  # heartbeats (stale trials of a killed worker fail) are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = opened(lambda: optuna.storages.RDBStorage(setup.storage, **kwargs))
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, a refused connection
        hint = " (pip install 'seqarena[postgres]')" if "psycopg" in str(exc) or "No module" in str(exc) else ""
        raise SeqarenaError(
            f"cannot open the study storage {_sanitized(setup.storage)} ({str(exc).splitlines()[0][:160]}){hint}"
        ) from None
    if setup.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    elif setup.pruner == "hyperband":
        max_epochs = setup.base["train"].get("max_epochs")
        top = max_epochs if isinstance(max_epochs, int) else 10
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top, reduction_factor=3)
    else:
        pruner = optuna.pruners.NopPruner()
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True)
    return opened(lambda: optuna.create_study(study_name=setup.name, storage=storage, direction=setup.direction,
                                              sampler=sampler, pruner=pruner, load_if_exists=True))  # fmt: skip


def setup_dict(setup: Setup) -> dict[str, Any]:
    return {**vars(setup), "storage": _sanitized(setup.storage)}


def load_setup(data: dict[str, Any], storage: str) -> Setup:
    names = {f.name for f in fields(Setup)}
    return Setup(**{**{k: v for k, v in data.items() if k in names}, "storage": storage})


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def remove_checkpoint(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)


def write_study_json(out: Path, setup: Setup) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", setup_dict(setup))


__all__ = ["Setup", "prepare", "open_study", "split_config", "write_study_json", "load_setup", "PRUNERS"]
