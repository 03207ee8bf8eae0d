"""One config object per run: typed kw_only dataclasses, YAML in and out, dotted `--set` overrides.

Values are coerced to the declared field type (YAML reads `3e-3` as a string; `200k` is 200000), and an unknown key
or a wrong type is a ConfigError that names the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from seqarena import ranges
from seqarena.errors import ConfigError, did_you_mean
from seqarena.ranges import FRACTION, NON_NEGATIVE, OPEN_UNIT, POSITIVE, UNIT, Range, at_least, opt


@dataclass(kw_only=True)
class TrainConfig:
    # "auto": chosen from the number of training examples (training/defaults.py; 10 epochs of batch 32 with
    # patience 3 from 500 examples, more epochs of smaller batches below)
    max_epochs: int | Literal["auto"] = opt("auto", at_least(1))
    max_steps: int | None = opt(None, at_least(1))  # stop after this many optimizer steps in total
    max_seconds: float | None = opt(None, POSITIVE)  # wall-clock training budget (stops mid-epoch; timing-dependent,
    # so not bitwise reproducible across machines)
    batch_size: int | Literal["auto"] = opt("auto", at_least(1))
    lr: float = opt(1e-3, POSITIVE)
    weight_decay: float = opt(0.0, NON_NEGATIVE)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = opt(0.9, FRACTION)  # SGD only
    schedule: Literal["constant", "cosine", "step", "plateau"] = "cosine"
    warmup_steps: int | Literal["auto"] = opt("auto", NON_NEGATIVE)
    min_lr_ratio: float = opt(0.0, UNIT)  # schedule=cosine decays to train.lr * min_lr_ratio
    beta2: float = opt(0.999, OPEN_UNIT)  # AdamW's second-moment decay (0.99 suits small data and short runs)
    step_epochs: int = opt(1, at_least(1))  # schedule=step: multiply the lr by gamma every step_epochs epochs
    gamma: float = opt(0.5, Range(0, 1, lo_open=True))  # schedule=step and schedule=plateau: the decay factor
    clip_norm: float | None = opt(1.0, POSITIVE)  # clip gradients by global norm; None: off
    lr_mult: dict[str, float] = field(default_factory=dict, metadata={"range": POSITIVE})  # layer-wise lr:
    # parameter-name prefix -> multiplier
    patience: int | Literal["auto"] | None = opt("auto", at_least(1))
    # early stopping on validation loss (best weights restored); None: off
    seed: int = opt(0, NON_NEGATIVE)
    threads: int | None = opt(None, at_least(1))  # torch intra-op threads; None: torch's default (the cores)
    deterministic: bool = False  # pin what can be pinned: one thread unless train.threads says otherwise, and
    # deterministic algorithms, so the numbers do not depend on the machine's core count
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    matmul: Literal["auto", "torch", "onednn"] = "auto"  # the fp32 GEMM of linear layers on the CPU: auto takes
    # oneDNN where `seqarena doctor` measures it 1.2x faster than torch.mm (training/matmul.py)
    grad_checkpointing: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True  # a progress bar when stdout is a terminal
    init: str | None = None  # warm start: a finished run whose weights (matched by name and shape) start this one
    unfreeze: list[str] = field(default_factory=list)  # parameter-name prefixes frozen at first, unfrozen in this
    # order (e.g. top layers first), one group every unfreeze_every epochs: progressive unfreezing
    unfreeze_every: int = opt(1, at_least(1))
    prune: float = opt(0.0, Range(0, 1, hi_open=True))  # structured pruning of the train.init run: this share of
    # every layer's units leaves the backbone before training fine-tunes the smaller model (training/prune.py); 0: off
    teacher: str | None = None  # knowledge distillation: a finished run on the same data whose outputs the model
    # also matches (soft targets at distill_temperature for classes, its forecasts for regression)
    distill_alpha: float = opt(0.5, UNIT)  # the loss: (1 - alpha) * task loss + alpha * matching the teacher
    distill_temperature: float = opt(2.0, POSITIVE)  # softens both class distributions; the KL term is scaled
    # by temperature^2 so its gradients keep their size (Hinton et al., 2015)
    length_warmup: int = opt(0, NON_NEGATIVE)  # curriculum: over this many steps the training sequences grow
    # linearly from length_start tokens to the task's full length (sequence-length warm-up); 0: off
    length_start: int = opt(8, at_least(1))
    loggers: list[Literal["tensorboard", "mlflow"]] = field(default_factory=list)  # experiment tracking beside
    # metrics.jsonl (seqarena[track]): TensorBoard event files in the run, MLflow at MLFLOW_TRACKING_URI


@dataclass(kw_only=True)
class EvalConfig:
    split: Literal["val", "test"] = "test"
    batch_size: int = opt(256, at_least(1))


@dataclass(kw_only=True)
class RunConfig:
    task: Any = None  # the task's own Config dataclass (each task module defines it)
    model: Any = None  # the chosen model's own Config dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS = ("task", "model", "train", "eval")
_SUFFIX = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "")
        mult = _SUFFIX.get(text[-1:], 1) if text else 1
        number = float(text[:-1] if mult > 1 else text)
        if number * mult == int(number * mult):
            return int(number * mult)
    raise ValueError


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Return `value` converted to type `tp`, or raise a ConfigError naming `key` and the expected type."""
    origin = typing.get_origin(tp)
    try:
        if tp is Any:
            return value
        if origin in (typing.Union, types.UnionType):
            args = typing.get_args(tp)
            if value is None or (isinstance(value, str) and value.lower() in ("null", "none")):
                if type(None) in args:
                    return None
                raise ValueError
            for arg in (a for a in args if a is not type(None)):
                try:
                    return coerce(value, arg, key)
                except ConfigError:
                    continue
            raise ValueError
        if origin is Literal:
            allowed = typing.get_args(tp)
            if value in allowed:
                return value
            raise ValueError
        if tp is bool:
            return _to_bool(value)
        if tp is int:
            return _to_int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if tp is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if origin is list:
            (item,) = typing.get_args(tp)
            seq = value.split(",") if isinstance(value, str) else value
            if not isinstance(seq, (list, tuple)):
                raise ValueError
            return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(seq)]
        if origin is dict:
            _, item = typing.get_args(tp)
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): coerce(v, item, f"{key}.{k}") for k, v in value.items()}
    except (ValueError, TypeError):
        raise ConfigError(f"{key}={value!r} is not valid: expected {_type_name(tp)}") from None
    raise ConfigError(f"{key}: unsupported field type {tp}")


def from_dict(cls: type, data: dict[str, Any] | None, prefix: str) -> Any:
    """Build dataclass `cls` from a plain dict, rejecting unknown keys with a did-you-mean hint."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            hint = did_you_mean(key, names, f"{prefix}.")
            raise ConfigError(f"unknown option '{prefix}.{key}'{hint} (options: {', '.join(names)})")
    values = {k: coerce(v, hints[k], f"{prefix}.{k}") for k, v in data.items()}
    return cls(**values)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def set_dotted(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b.c=value` override to a nested dict; the value is read as YAML, then coerced on build."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value (e.g. train.lr=3e-3), got {assignment!r}")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) < 2 or parts[0] not in SECTIONS or not all(parts):
        raise ConfigError(f"--set key {key!r} must start with task., model., train. or eval. (e.g. model.d_model=128)")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; give the path of a YAML run config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}; fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping with task/model/train/eval sections")
    return data


def build(raw: dict[str, Any]) -> RunConfig:
    """Turn a nested dict (from YAML and overrides) into a typed RunConfig: the task's own Config, the model's own
    Config, train and eval. Options users spell under model. that belong to the task (a language model's
    `model.tie_weights`) move to the task; the task may give model defaults (a language model is causal)."""
    from seqarena.registry import DEFAULT_MODEL, DEFAULT_TASK, get_model, get_task, task_names

    for key in raw:
        if key not in SECTIONS:
            hint = did_you_mean(key, SECTIONS)
            raise ConfigError(f"unknown config section '{key}'{hint} (sections: task, model, train, eval)")
        if raw[key] is not None and not isinstance(raw[key], dict):
            raise ConfigError(f"config section '{key}' must be a mapping of options, got {raw[key]!r}")
    model_raw = dict(raw.get("model") or {})
    task_raw = dict(raw.get("task") or {})
    task_cls = get_task(str(task_raw.get("name", DEFAULT_TASK)))
    task_raw["name"] = task_cls.name
    model_cls = get_model(str(model_raw.get("name", DEFAULT_MODEL)))
    model_raw["name"] = model_cls.name
    model_fields = {f.name for f in dataclasses.fields(model_cls.Config)}
    for key in [k for k in model_raw if k not in model_fields]:
        if key in task_cls.adopts:
            task_raw[key] = model_raw.pop(key)
            continue
        owners = [name for name in task_names() if key in get_task(name).adopts]
        if owners:
            raise ConfigError(f"model.{key} applies to task.name={' or '.join(owners)}, not {task_cls.name}")
    for key, value in task_cls.model_defaults(model_cls).items():
        model_raw.setdefault(key, value)
    cfg = RunConfig(
        task=from_dict(task_cls.Config, task_raw, "task"),
        model=from_dict(model_cls.Config, model_raw, "model"),
        train=from_dict(TrainConfig, raw.get("train"), "train"),
        eval=from_dict(EvalConfig, raw.get("eval"), "eval"),
    )
    for section in SECTIONS:
        ranges.check(getattr(cfg, section), section)
    return cfg


def parse(source: RunConfig | dict | str | Path, overrides: list[str] | None = None) -> RunConfig:
    """A typed RunConfig from a RunConfig, a nested dict or a YAML path, with `a.b=value` overrides applied."""
    if isinstance(source, RunConfig):
        raw = to_dict(source)
    elif isinstance(source, dict):
        raw = json.loads(json.dumps(source))
    else:
        raw = load_yaml(source)
    for assignment in overrides or []:
        set_dotted(raw, assignment)
    return build(raw)


def refuse_unless_default(section: Any, key: str, why: str) -> None:
    """A ConfigError when option `key` (dotted, e.g. "task.eval_stride") of a config section differs from its
    default: the run could not honour it, and silence would be a lie."""
    attr = key.rsplit(".", 1)[-1]
    default = next(f.default for f in dataclasses.fields(section) if f.name == attr)
    value = getattr(section, attr)
    if default is not dataclasses.MISSING and value != default:
        raise ConfigError(f"{key}={value!r} has no effect here: {why}")


def dump_yaml(cfg: RunConfig, path: str | Path) -> None:
    from seqarena.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
