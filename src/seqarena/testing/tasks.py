"""The task half of the conformance suite: what a registered Task must do (tasks/base.py), checked by building it,
resolving, batching, learning one batch, training a tiny run end to end, loading it back and profiling it."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from seqarena.config import build, to_dict
from seqarena.errors import ConfigError
from seqarena.registry import get_model, get_task, model_names
from seqarena.tasks.base import Column, Metric, Requires
from seqarena.training.defaults import adapt

TRAIN = {"max_epochs": 2, "batch_size": 16, "lr": 3e-3, "patience": None, "progress": False}


def check_task(
    task_cls: type | str,
    task: dict[str, Any],
    *,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    predict_input: str | Path | None = None,
    tmp_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Check a task end to end on the `task.*` options given (small data: it trains a tiny run), with a trainable
    backbone (`model`, default a GRU of width 8). Returns the run's results; raises AssertionError naming the
    failed check."""
    cls = get_task(task_cls) if isinstance(task_cls, str) else task_cls
    model = model or {"name": "gru", "d_model": 8, "num_layers": 1}
    raw = {"task": {"name": cls.name, **task}, "model": model, "train": {**TRAIN, **(train or {})}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp_dir) if tmp_dir is not None else Path(tmp)
        steps = [
            ("declarations", lambda: check_declarations(cls)),
            ("resolve", lambda: check_resolve(cls, raw)),
            ("learning", lambda: check_learning(cls, raw)),
            ("run", lambda: check_run(cls, raw, root / f"{cls.name}-check", predict_input)),
        ]
        results: dict[str, Any] = {}
        for name, step in steps:
            try:
                results = step() or results
            except AssertionError as exc:
                raise AssertionError(f"task '{cls.name}': check '{name}' failed: {exc}") from None
        return results


def check_declarations(cls: type) -> None:
    """Registered under its name; a Config whose `name` defaults to it; typed declarations; baselines that are
    registered models the task accepts."""
    from seqarena.report.plots import SECTIONS

    assert get_task(cls.name) is cls, f"'{cls.name}' is not registered to {cls.__name__} (@register_task)"
    assert dataclasses.is_dataclass(cls.Config), "Config must be a dataclass"
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    assert "name" in fields and fields["name"].default == cls.name, f"Config.name must default to '{cls.name}'"
    assert "data" in fields, "Config needs a `data` field (what the run trains on)"
    assert isinstance(cls.requires, Requires), "requires must be a Requires"
    assert isinstance(cls.metric, Metric), "metric must be a Metric"
    assert all(isinstance(m, Metric) for m in cls.quality), "quality must hold Metrics"
    assert cls.columns and all(isinstance(c, Column) for c in cls.columns), "columns must be a non-empty Columns"
    unknown = [s for s in cls.sections if s not in SECTIONS]
    assert not unknown, f"report sections {unknown} do not exist (known: {', '.join(SECTIONS)})"
    for name in cls.baselines:
        assert name in model_names(), f"baseline '{name}' is not a registered model"
        base = get_model(name)
        why = cls.requires.why_not(name, base.capabilities_of(base.Config()))
        assert why is None, f"baseline '{name}' does not meet the task's requirements: {why}"


def check_resolve(cls: type, raw: dict[str, Any]) -> None:
    """Building the task never changes the given config; resolving is idempotent; a model the task's requirements
    refuse is refused with a ConfigError."""
    cfg = build(json.loads(json.dumps(raw)))
    before = to_dict(cfg)
    task = cls(cfg)
    assert to_dict(cfg) == before, "the task changed the config it was given (resolve must return a new one)"
    resolved = task.cfg
    assert to_dict(task.resolve(resolved)) == to_dict(resolved), "resolve(resolve(cfg)) differs from resolve(cfg)"
    assert getattr(resolved.model, "params", None) is None, "the resolved config still asks for a width search"
    assert task.n_train() > 0, "n_train() must be positive"
    refused = next(
        (m for m in model_names() if cls.requires.why_not(m, get_model(m).capabilities_of(get_model(m).Config()))),
        None,
    )
    if refused is not None:
        other = build({**json.loads(json.dumps(raw)), "model": {"name": refused}})
        try:
            task.resolve(other)
        except ConfigError:
            return
        raise AssertionError(f"model '{refused}' fails the task's requirements, yet resolve accepted it")


def check_learning(cls: type, raw: dict[str, Any]) -> None:
    """Batches are seeded (the same generator seed gives the same batch); the loss is a finite scalar that a few
    optimizer steps on one batch lower."""
    task = cls(build(json.loads(json.dumps(raw))))
    task.cfg, _ = adapt(task.cfg, task.n_train(), task.validates)
    cfg = task.cfg
    first = next(iter(task.train_batches(cfg.train.batch_size, torch.Generator().manual_seed(0))))
    again = next(iter(task.train_batches(cfg.train.batch_size, torch.Generator().manual_seed(0))))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True)), "batches are not seeded"
    assert len(first[0]) <= cfg.train.batch_size, "a batch has more rows than train.batch_size"
    torch.manual_seed(0)
    model = task.build_model(cfg).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = task.loss(model, first)
        assert loss.ndim == 0 and torch.isfinite(loss), f"the loss must be a finite scalar, got {loss}"
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], f"30 steps on one batch did not lower the loss ({losses[0]:.4f} -> {losses[-1]:.4f})"


def check_run(cls: type, raw: dict[str, Any], run_dir: Path, predict_input: str | Path | None) -> dict[str, Any]:
    """A tiny run through seqarena.train: finite metrics with the declared keys; a run directory of JSON, YAML
    and safetensors only; loading it back gives the same test metrics; the profile is JSON with the figures the
    leaderboard columns name; predict (if given an input) returns rows."""
    from seqarena.arena.stats import RUN_KEYS
    from seqarena.run import evaluate, load, predict, train

    result = train(raw, run_dir, log=lambda _: None)
    test = result.results["test"]
    for key in ("loss", cls.metric.key, *(m.key for m in cls.quality)):
        assert key in test, f"evaluate() lacks '{key}'"
        assert math.isfinite(test[key]), f"test {key} is {test[key]}"
    assert ("val" in result.results) == result.task.validates, "val is evaluated exactly when the task validates"
    for path in run_dir.rglob("*"):
        if path.is_file():
            _check_no_pickle(path)
    again = evaluate(run_dir, "test")
    for key, value in test.items():
        if isinstance(value, float):
            assert math.isclose(again[key], value, rel_tol=1e-6, abs_tol=1e-9), (
                f"test {key} is {value} after training but {again[key]} from the loaded run"
            )
    training = {"samples_per_s": 1.0, "train_seconds": 1.0, "time_to_best": 1.0}
    profile = result.task.profile(result.model, run_dir, training)
    json.dumps(profile)
    for key in ("threads", "size_bytes", "peak_rss_mb"):
        assert key in profile, f"profile lacks '{key}'"
    known = {*RUN_KEYS, *profile}
    for column in cls.columns:
        if column.key.startswith(("test_", "val_")):
            assert column.key.split("_", 1)[1] in test, f"column '{column.header}' names a metric evaluate() lacks"
        else:
            assert column.key in known, f"column '{column.header}' names '{column.key}', which no run reports"
    if predict_input is not None:
        frame, what = predict(run_dir, predict_input)
        assert len(frame) > 0 and isinstance(what, str), "predict returned no rows"
    assert load(run_dir).config == result.config, "config.yaml does not rebuild the resolved config"
    return result.results


def _check_no_pickle(path: Path) -> None:
    if path.suffix == ".safetensors":
        return
    head = path.read_bytes()[:2]
    assert not head.startswith(b"\x80"), f"{path.name} looks like a pickle"
    if path.suffix in (".json", ".jsonl"):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines() if path.suffix == ".jsonl" else [text]
        for line in lines:
            json.loads(line, parse_constant=_refuse)  # strict: a bare NaN or Infinity is not JSON


def _refuse(constant: str) -> None:
    raise AssertionError(f"a JSON file holds the non-standard constant {constant}")
