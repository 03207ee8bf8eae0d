"""What the advisor decides from: the task and the data's properties, given by the user or measured from the data
itself (through the task's `describe()`), and the deployment constraints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from seqarena.errors import ConfigError, DataError

DEVICES = ("cpu", "cuda")


@dataclass
class Properties:
    task: str
    seq_len: int | None = None  # steps a model reads at once
    samples: int | None = None  # training examples
    channels: int | None = None
    classes: int | None = None  # a label per whole sequence (classification)
    period: int | None = None  # the strongest seasonal period (forecasting)
    seasonal_strength: float = 0.0  # its autocorrelation, 0..1
    irregular: bool = False  # uneven sampling times
    latency_ms: float | None = None  # the most one prediction at batch 1 may take
    memory_mb: float | None = None  # the most a training step may hold
    streaming: bool = False  # predictions must come step by step from a carried state
    device: str = "cpu"
    data: str | None = None  # what was measured, when the properties come from data

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(props: Properties) -> Properties:
    """Refuse impossible or meaningless constraints with one line each."""
    from seqarena.registry import get_task

    get_task(props.task)  # an unknown task names the known ones
    for key in ("seq_len", "samples", "channels", "classes"):
        value = getattr(props, key)
        if value is not None and value < 1:
            raise ConfigError(f"--{key.replace('_', '-')} {value} is impossible: it must be >= 1")
    for key in ("latency_ms", "memory_mb"):
        value = getattr(props, key)
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise ConfigError(f"--{key.replace('_', '-')} {value:g} is impossible: no model runs in no time or memory; "
                              f"give a budget > 0")  # fmt: skip
    if props.device not in DEVICES:
        raise ConfigError(f"--device {props.device!r}: give one of {', '.join(DEVICES)}")
    return props


def from_data(task: str, data: str, options: dict[str, Any] | None = None, **constraints: Any) -> Properties:
    """Measure the properties of a dataset (a registered name or a file) as the task loads it (with `options`, more
    task.* settings)."""
    from seqarena.config import build
    from seqarena.registry import get_task

    task_cls = get_task(task)
    model = _cheapest(task_cls)  # the task only needs to load the data
    raw = {
        "task": {"name": task, "data": data, **(options or {})},
        "model": {"name": model} if model == "linear" else {"name": model, "d_model": 8, "num_layers": 1},  # fmt: skip
    }
    loaded = task_cls(build(raw))
    facts = loaded.describe()
    if not facts.get("samples"):
        raise DataError(f"{data} gives no training examples for task {task}; give more data")
    return check(
        Properties(
            task=task,
            seq_len=facts.get("length"),
            samples=facts["samples"],
            channels=facts.get("channels"),
            classes=facts.get("classes"),
            period=facts.get("period"),
            seasonal_strength=float(facts.get("seasonal_strength") or 0.0),
            irregular=float(facts.get("irregularity") or 0.0) > 0.05,
            data=data,
            **constraints,
        )
    )


def _cheapest(task_cls: type) -> str:
    """A model that builds in no time and that the task accepts: the linear forecaster, else a tiny GRU."""
    from seqarena.registry import get_model

    for name in ("linear", "gru"):
        cls = get_model(name)
        if task_cls.requires.why_not(name, cls.capabilities_of(cls.Config(**task_cls.model_defaults(cls)))) is None:
            return name
    return "gru"
