"""An arena: one task, a list of model blocks, a budget, seeds and sweep axes, expanded into run plans.

```yaml
task: {data: ETTh1, lookback: 96, horizon: 96}
models: [{name: rnn}, {name: lstm}, {name: transformer, num_heads: 4}]
budget: {params: 200k, epochs: 10}          # and/or seconds: 120; tune: {trials: 10} tunes every entrant first
seeds: 3                                     # or a list: [0, 1, 2]
sweep: {task.lookback: [48, 96, 336]}        # any config field
lengths: [512, 1024]                         # also score each run at these lengths (length extrapolation)
backtest: {windows: 5, step: 24}             # forecasting: rank by a rolling-origin backtest, paired over windows
train: {lr: 1e-3}                            # shared by every entrant
```
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field, fields
from typing import Any

from seqarena.config import build, coerce, load_yaml, set_dotted, to_dict
from seqarena.errors import ConfigError
from seqarena.ranges import POSITIVE, at_least

KEYS = (
    "task",
    "models",
    "budget",
    "seeds",
    "sweep",
    "train",
    "eval",
    "baselines",
    "workers",
    "export",
    "lengths",
    "rank_by",
    "backtest",
)
TUNE_KEYS = ("trials", "epochs", "seconds", "pruner")  # budget.tune: an equal Optuna search per entrant first


@dataclass(kw_only=True)
class ArenaSpec:
    task: dict[str, Any] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    budget: dict[str, Any] = field(default_factory=dict)  # params, epochs, seconds
    seeds: list[int] = field(default_factory=lambda: [0])
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    baselines: bool = True
    workers: int | None = None
    export: bool = False  # also export, quantise and time each trained run with ONNX Runtime (seqarena[deploy])
    lengths: list[int] = field(default_factory=list)  # also evaluate each run at these lengths (Task.length_key)
    rank_by: str | None = None  # a quality metric of the task to rank by (default: its primary metric), e.g. crps
    backtest: dict[str, Any] | None = None  # forecasting: windows, step, refit; ranks by the backtest's pooled metric


@dataclass
class RunPlan:
    key: str  # hash of the run config as built from the spec (before the task resolves it)
    label: str  # the entrant's name in tables
    seed: int
    point: dict[str, Any]  # the sweep values of this run
    raw: dict[str, Any]  # the run config as a nested dict
    resolved: dict[str, Any] | None = None  # the config the task resolved it to (runner.resolve_plans)
    plugins: list[str] = field(default_factory=list)  # modules a worker imports first (a user's own models, tasks)
    export: bool = False  # profile the deployable cost too (not part of the key: the trained run is the same)
    lengths: list[int] = field(default_factory=list)  # evaluate the trained run at these lengths too (not keyed)
    backtest: dict[str, Any] | None = None  # backtest the trained run too (not keyed)
    tuning: dict[str, Any] | None = None  # a tuned arena: what this entrant's study chose (arena/tuning.py)


def parse(data: dict[str, Any]) -> ArenaSpec:
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise ConfigError(f"unknown arena key(s) {unknown} (keys: {', '.join(KEYS)})")
    seeds = data.get("seeds", 1)
    seeds = list(range(coerce(seeds, int, "seeds"))) if not isinstance(seeds, list) else seeds
    models = data.get("models") or []
    if isinstance(models, str):
        models = [{"name": m.strip()} for m in models.split(",") if m.strip()]
    models = [m if isinstance(m, dict) else {"name": str(m)} for m in models]
    budget = dict(data.get("budget") or {})
    for key in budget:
        if key not in ("params", "epochs", "seconds", "tune"):
            raise ConfigError(f"unknown budget '{key}' (budgets: params, epochs, seconds, tune)")
    if "tune" in budget:
        budget["tune"] = _tune_budget(budget["tune"])
    sweep = data.get("sweep") or {}
    for axis, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep axis {axis} needs a non-empty list of values")
    spec = ArenaSpec(
        task=dict(data.get("task") or {}),
        models=models,
        budget=budget,
        seeds=[coerce(s, int, "seeds") for s in seeds],
        sweep=dict(sweep),
        train=dict(data.get("train") or {}),
        eval=dict(data.get("eval") or {}),
        baselines=coerce(data.get("baselines", True), bool, "baselines"),
        workers=coerce(data.get("workers"), int | None, "workers"),
        export=coerce(data.get("export", False), bool, "export"),
        lengths=_lengths(data.get("lengths")),
        rank_by=coerce(data.get("rank_by"), str | None, "rank_by"),
        backtest=_backtest(data.get("backtest")),
    )
    if spec.rank_by is not None or spec.backtest is not None:
        task_class(spec)  # a metric the task does not report is an error now, not after training
    if not spec.seeds or min(spec.seeds) < 0 or len(set(spec.seeds)) < len(spec.seeds):
        raise ConfigError(f"seeds={data.get('seeds')!r}: give a count >= 1 or a list of distinct seeds >= 0")
    if spec.workers is not None and spec.workers < 1:
        raise ConfigError(f"workers={spec.workers} is out of range: it must be >= 1")
    for key, valid in (("epochs", at_least(1)), ("seconds", POSITIVE)):
        value = spec.budget.get(key)
        if value is not None and coerce(value, float, f"budget.{key}") not in valid:
            raise ConfigError(f"budget.{key}={value!r} is out of range: it must be {valid}")
    return spec


def _tune_budget(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        value = {"trials": value}
    unknown = [k for k in value if k not in TUNE_KEYS]
    if unknown:
        raise ConfigError(f"budget.tune: unknown key(s) {unknown} (keys: {', '.join(TUNE_KEYS)})")
    out = {
        "trials": coerce(value.get("trials", 10), int, "budget.tune.trials"),
        "epochs": coerce(value.get("epochs"), int | None, "budget.tune.epochs"),
        "seconds": coerce(value.get("seconds"), float | None, "budget.tune.seconds"),
        "pruner": str(value.get("pruner", "median")),
    }
    if out["trials"] < 1 or (out["epochs"] is not None and out["epochs"] < 1) or (out["seconds"] or 1) <= 0:
        raise ConfigError(f"budget.tune={value!r}: give trials >= 1, epochs >= 1, seconds > 0")
    return out


def _lengths(value: Any) -> list[int]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        lengths = [int(v) for v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"lengths={value!r}: give a list of whole numbers, e.g. [512, 1024]") from None
    if any(n < 1 for n in lengths) or len(set(lengths)) < len(lengths):
        raise ConfigError(f"lengths={value!r}: give distinct lengths >= 1")
    return lengths


def _backtest(value: Any) -> dict[str, Any] | None:
    """backtest: a number of windows, or {windows, step, refit} (refit: none, every or K; see seqarena backtest)."""
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        value = {"windows": value}
    unknown = [k for k in value if k not in ("windows", "step", "refit")]
    if unknown:
        raise ConfigError(f"backtest: unknown key(s) {unknown}; give windows, step and refit")
    windows = coerce(value.get("windows", 5), int, "backtest.windows")
    step = coerce(value.get("step"), int | None, "backtest.step")
    if windows < 2 or (step is not None and step < 1):
        raise ConfigError(f"backtest={value!r}: give windows >= 2 (a paired test needs two) and step >= 1")
    return {"windows": windows, "step": step, "refit": str(value.get("refit", "none"))}


def length_columns(spec: ArenaSpec) -> tuple[Any, ...]:
    """The primary test metric at each extra length of the arena."""
    from seqarena.tasks.base import Column

    metric = task_class(spec).metric
    return tuple(Column(f"{metric.key} @{n}", f"test_{metric.key}@{n}", 4, True) for n in spec.lengths)


def load(path: str) -> ArenaSpec:
    return parse(load_yaml(path))


def run_key(raw: dict[str, Any]) -> str:
    """The hash of the run config as built, over the values that differ from their defaults (so an option added
    to seqarena later, at its default, leaves every stored run's key as it was)."""
    cfg = build(json.loads(json.dumps(raw)))
    resolved = to_dict(cfg)
    for section in ("task", "model", "train", "eval"):
        try:
            default = to_dict(type(getattr(cfg, section))())
        except TypeError:  # a config with a required field: hash it whole
            continue
        resolved[section] = {k: v for k, v in resolved[section].items() if k not in default or default[k] != v}
        resolved[section]["name"] = getattr(getattr(cfg, section), "name", None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _label(block: dict[str, Any], names: list[str]) -> str:
    if "label" in block:
        return str(block["label"])
    extra = {k: v for k, v in block.items() if k != "name"}
    if names.count(block["name"]) > 1 and extra:
        return block["name"] + "[" + ",".join(f"{k}={v}" for k, v in sorted(extra.items())) + "]"
    return str(block["name"])


def board_columns(spec: ArenaSpec) -> tuple[Any, ...]:
    """The leaderboard's task columns, the metric at each extra length, and the deployable cost when the arena
    exports."""
    from seqarena.tasks.base import DEPLOY

    return (*task_class(spec).columns, *length_columns(spec), *backtest_columns(spec),
            *(DEPLOY if spec.export else ()))  # fmt: skip


def backtest_columns(spec: ArenaSpec) -> tuple[Any, ...]:
    """The backtest's pooled primary metric (and MSE) when the arena backtests."""
    from seqarena.tasks.base import Column

    if spec.backtest is None:
        return ()
    keys = dict.fromkeys([task_class(spec).metric.key, "mse"])
    return tuple(Column(f"backtest {k.upper() if len(k) <= 4 else k}", f"backtest_{k}", 4, True) for k in keys)


def task_class(spec: ArenaSpec) -> Any:
    """The arena's task class; with rank_by, a view of it whose primary metric is that one."""
    from seqarena.registry import DEFAULT_TASK, get_task
    from seqarena.tasks.base import Task

    cls = get_task(str(spec.task.get("name", DEFAULT_TASK)))
    view: dict[str, Any] = {}
    if spec.backtest is not None:
        if cls.backtest.__func__ is Task.backtest.__func__:
            raise ConfigError(f"backtest: task '{cls.name}' has no rolling-origin evaluation (forecasting has)")
        view["rank_prefix"] = "backtest_"  # rank by the backtest's pooled metric, test per window
    if spec.rank_by is not None and spec.rank_by != cls.metric.key:
        metrics = {m.key: m for m in cls.quality}
        if spec.rank_by not in metrics:
            raise ConfigError(
                f"rank_by={spec.rank_by!r}: task '{cls.name}' ranks by {', '.join([cls.metric.key, *metrics])}"
            )
        view["metric"] = metrics[spec.rank_by]
    return type(cls.__name__, (cls,), {**view, "__module__": cls.__module__}) if view else cls


def _parameter_free(name: str) -> bool:
    from seqarena.registry import get_model

    cls = get_model(name)
    return not cls.capabilities_of(cls.Config()).trainable


def expand(spec: ArenaSpec) -> list[RunPlan]:
    """Every (sweep point x entrant x seed) as a run plan; the task's baselines join once per point
    (parameter-free ones with one seed, since seeds cannot change them)."""
    blocks = list(spec.models)
    if not blocks:
        raise ConfigError("the arena has no models; give --models rnn,lstm,... or a models: list")
    if spec.lengths and task_class(spec).length_key is None:
        raise ConfigError(f"lengths: task '{task_class(spec).name}' has no sequence length to vary")
    present = {b["name"] for b in blocks}
    if spec.baselines:
        blocks += [{"name": b} for b in task_class(spec).baselines if b not in present]
    names = [b["name"] for b in blocks]
    axes = list(spec.sweep)
    plans = []  # a run shared by several sweep points (a baseline under a model.* axis) appears once per point
    for values in itertools.product(*(spec.sweep[a] for a in axes)) if axes else [()]:
        point = dict(zip(axes, values, strict=True))
        for block in blocks:
            seeds = spec.seeds[:1] if _parameter_free(block["name"]) else spec.seeds
            for seed in seeds:
                raw = _run_config(spec, block, seed, point)
                label = _label(block, names)
                plan = RunPlan(run_key(raw), label, seed, point, raw, export=spec.export, lengths=list(spec.lengths),
                               backtest=spec.backtest)  # fmt: skip
                plans.append(plan)
    return plans


def _run_config(spec: ArenaSpec, block: dict[str, Any], seed: int, point: dict[str, Any]) -> dict[str, Any]:
    from seqarena.registry import get_model
    from seqarena.sizing import has_width

    model = {k: v for k, v in block.items() if k != "label"}
    cls = get_model(str(model["name"]))
    raw: dict[str, Any] = {
        "task": dict(spec.task),
        "model": model,
        "train": {**spec.train, "seed": seed, "progress": False},
        "eval": dict(spec.eval),
    }
    if spec.budget.get("params") is not None and has_width(cls.Config()):
        raw["model"].setdefault("params", spec.budget["params"])
    if spec.budget.get("epochs") is not None:
        raw["train"]["max_epochs"] = spec.budget["epochs"]
    if spec.budget.get("seconds") is not None:
        raw["train"]["max_seconds"] = spec.budget["seconds"]
    model_fields = {f.name for f in fields(cls.Config)}
    for axis, value in point.items():
        if axis.startswith("model.") and axis.split(".")[1] not in model_fields:
            continue  # this entrant has no such knob (e.g. a baseline under a model.d_model sweep)
        set_dotted(raw, f"{axis}={json.dumps(value) if not isinstance(value, str) else value}")
    return raw
