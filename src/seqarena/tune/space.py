"""Search spaces: which config fields a study varies and over what. A default per model family, overridable
from YAML with the same dotted keys as --set:

```yaml
train.lr: {low: 1e-4, high: 3e-3, log: true}   # a float range (log: sampled on a log scale)
model.num_layers: [1, 2, 3]                     # a list: one of these values
train.warmup_steps: {low: 0, high: 200, int: true}
model.dropout: null                             # drop a default dimension
```

Layers are varied at a fixed parameter count: when the space holds `model.num_layers` and the model has a width,
each trial solves `model.d_model` for the run's `model.params`, so deeper trials are narrower, never bigger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from seqarena.config import coerce
from seqarena.errors import ConfigError

# every family: the optimizer's knobs
_TRAIN = {
    "train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "train.weight_decay": {"low": 1e-6, "high": 1e-1, "log": True},
    "train.warmup_steps": {"low": 0, "high": 200, "int": True},
}
# per family, on top: what the model has (a field the model lacks is left out)
_FAMILY: dict[str, dict[str, Any]] = {
    "recurrent": {"model.dropout": {"low": 0.0, "high": 0.3}, "model.num_layers": [1, 2, 3]},
    "attention": {
        "train.lr": {"low": 1e-4, "high": 3e-3, "log": True},
        "model.dropout": {"low": 0.0, "high": 0.3},
        "model.num_layers": [1, 2, 3, 4],
    },
    "hybrid": {"model.dropout": {"low": 0.0, "high": 0.3}, "model.num_layers": [1, 2, 3]},
    "state-space": {"model.dropout": {"low": 0.0, "high": 0.3}, "model.num_layers": [1, 2, 3, 4]},
    "convolution": {"model.dropout": {"low": 0.0, "high": 0.3}, "model.num_layers": [2, 3, 4, 6]},
    "linear": {},
}


@dataclass(frozen=True)
class Dimension:
    key: str  # a dotted config key, as --set takes it
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial picks for this dimension."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        kind = "integer" if self.integer else "float"
        return f"{kind} in [{self.low:g}, {self.high:g}]" + (" (log scale)" if self.log else "")


def dimension(key: str, value: Any) -> Dimension:
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"search space {key}: an empty list; give the values to choose from")
        return Dimension(key, choices=tuple(value))
    if not isinstance(value, dict) or not {"low", "high"} <= set(value):
        raise ConfigError(f"search space {key}={value!r}: give a list of values or {{low: ..., high: ..., log: true}}")
    unknown = sorted(set(value) - {"low", "high", "log", "int"})
    if unknown:
        raise ConfigError(f"search space {key}: unknown option(s) {unknown} (options: low, high, log, int)")
    integer = coerce(value.get("int", False), bool, f"{key}.int")
    low = coerce(value["low"], float, f"{key}.low")
    high = coerce(value["high"], float, f"{key}.high")
    log = coerce(value.get("log", False), bool, f"{key}.log")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high or (log and low <= 0):
        raise ConfigError(f"search space {key}: need low < high (and low > 0 on a log scale), got {low:g}, {high:g}")
    return Dimension(key, low, high, log, integer)


def default_space(model_name: str) -> dict[str, Any]:
    """The default search space for a model, as YAML would write it (only fields the model has)."""
    from seqarena.registry import get_model

    cls = get_model(model_name)
    cfg = cls.Config()
    caps = cls.capabilities_of(cfg)
    if not caps.trainable:
        return {}
    space = {**_TRAIN, **_FAMILY.get(caps.family, {})}
    names = {f.name for f in fields(cls.Config)}
    return {k: v for k, v in space.items() if not k.startswith("model.") or k.split(".", 1)[1] in names}


def build_space(model_name: str, override: dict[str, Any] | None = None) -> list[Dimension]:
    """The model's default space with `override` merged over it (a key set to null drops that dimension)."""
    from seqarena.registry import get_model

    if override is not None and not isinstance(override, dict):
        raise ConfigError("a search space is a mapping of dotted config keys, e.g. {train.lr: {low: 1e-4, high: 1e-2}}")
    merged = {**default_space(model_name), **(override or {})}
    names = {f.name for f in fields(get_model(model_name).Config)}
    dims = []
    for key, value in merged.items():
        section, _, name = key.partition(".")
        if section not in ("task", "model", "train", "eval") or not name:
            raise ConfigError(f"search space key {key!r}: give a dotted config key such as train.lr or model.dropout")
        if section == "model" and name not in names:
            raise ConfigError(f"search space key {key}: model '{model_name}' has no field {name!r}")
        if value is not None:
            dims.append(dimension(key, value))
    if not dims:
        raise ConfigError(f"nothing to tune for model '{model_name}': its search space is empty")
    return dims


__all__ = ["Dimension", "build_space", "default_space"]
