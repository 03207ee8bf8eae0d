"""One config object per run: typed kw_only dataclasses, YAML in and out, dotted `--set` overrides.

Values are coerced to the declared field type (YAML reads `3e-3` as a string; `200k` is 200000), and an unknown key
or a wrong type is a ConfigError that names the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from seqarena.errors import ConfigError


@dataclass(kw_only=True)
class TaskConfig:
    name: Literal["forecast"] = "forecast"
    data: str = "co2"  # a registered dataset name or a path to a CSV file
    data_args: dict[str, Any] = field(default_factory=dict)  # options of generated datasets (synthetic)
    features: Literal["M", "S", "MS"] = "M"  # M: all -> all, S: target -> target, MS: all -> target
    target: str | None = None  # target column for S/MS; the dataset's default (else its last column)
    lookback: int | None = None  # None: the dataset's default, else 96
    horizon: int | None = None  # None: the dataset's default, else 96
    fill: Literal["ffill", "interpolate", "zero"] | None = None  # how to fill NaNs; None: NaNs are an error
    revin: bool = True  # normalise each input window by its own mean/std and restore it on the output
    head: Literal["last", "mean", "flatten"] = "last"  # how a backbone's (B, T, D) output becomes a forecast
    time_column: str | None = None  # None: detect ("date", "time", "timestamp" or the first non-numeric column)
    gaps: Literal["auto", "on", "off"] = "auto"  # feed the time between observations (auto: on when uneven)


@dataclass(kw_only=True)
class LMTaskConfig:
    name: Literal["lm"] = "lm"
    data: str = "tinyshakespeare"  # a registered corpus, or a path to a text file or a folder of .txt files
    tokenizer: Literal["char", "byte", "word", "bpe"] | None = None  # None: the corpus default (else char)
    vocab_size: int | None = None  # bpe: the vocabulary to learn (default 8000); word: keep the most frequent
    min_freq: int = 1  # word: rarer words become <unk>
    block_size: int = 128  # context length of a training window (truncated-BPTT length for recurrent models)
    batching: Literal["auto", "stream", "blocks"] = "auto"  # auto: stream (TBPTT) for streaming models, else blocks
    head: Literal["auto", "full", "adaptive"] = "auto"  # auto: adaptive softmax from 20k tokens of vocabulary
    cutoffs: list[int] | None = None  # adaptive softmax cluster bounds (default: vocab/16, vocab/4)
    tie_weights: bool = False  # share the input embedding with the output layer (also `model.tie_weights`)
    eval_stride: int | None = None  # blocks models: score sliding windows with this stride (None: disjoint blocks)
    split: list[float] | None = None  # user corpora: train/val/test shares (default 0.9, 0.05, 0.05)
    encoding: str = "utf-8"


@dataclass(kw_only=True)
class ClassifyTaskConfig:
    name: Literal["classify"] = "classify"
    data: str = "GunPoint"  # a UCR/UEA name, names, smnist/psmnist/smnist-rows, sfashion..., or a CSV/Parquet path
    label: str | None = None  # tables: the label column (default "label")
    id_column: str | None = None  # tables in long format: the column naming each row's sequence
    pooling: Literal["last", "mean", "max", "attention"] = "mean"  # (B, T, D) -> (B, D) over the valid steps
    patch: int = 1  # feed groups of this many steps as one input vector (PatchTST-style); shortens long sequences
    derivative: bool = False  # add each channel's first differences as channels (shape changes stand out)
    jitter: float = 0.0  # training augmentation: add Gaussian noise of this std (in standardised units) to each step
    scaling: float = 0.0  # training augmentation: multiply each training sequence by 1 + N(0, scaling^2)
    time_warp: float = 0.0  # training augmentation: smoothly stretch and squeeze time; the std of the log local
    # speed at 4 knots (e.g. 0.2); the first and last valid steps stay in place
    val_fraction: float = 0.2  # official train/test splits: the share of training cases held out for validation;
    # 0: none, train on every training case and keep the epoch of lowest training loss (refit a chosen recipe)
    split: list[float] | None = None  # no official split: train/val/test shares (default 0.8, 0.1, 0.1)
    split_seed: int = 0  # the seed of the stratified split (kept apart from train.seed, so seeds share a split)
    folds: int | None = None  # cross-validation: validate on fold `fold` of a stratified k-fold split of the
    fold: int = 0  # non-test cases instead of val_fraction (`seqarena cv` runs every fold)
    scale: Literal["standard", "none"] = "standard"  # standardise each channel with training statistics
    max_length: int | None = None  # keep at most this many steps of each sequence (the first ones)
    max_train: int | None = None  # keep a seeded random subset of this many training cases (e.g. sequential MNIST)


@dataclass(kw_only=True)
class Seq2SeqTaskConfig:
    name: Literal["seq2seq"] = "seq2seq"
    data: str = "eng-fra"  # eng-fra, multi30k, synthetic-reverse/-sort/-dates, or a tab-separated pair file
    data_args: dict[str, Any] = field(default_factory=dict)  # synthetic tasks: n, length, seed
    source: str | None = None  # language codes: eng-fra en/fr (default en -> fr), multi30k de/en/fr (de -> en)
    target: str | None = None
    tokenizer: Literal["word", "char"] | None = None  # None: word for text, char for the synthetic tasks
    min_freq: int = 1  # rarer units become <unk>
    attention: Literal["none", "bahdanau", "luong"] = "bahdanau"  # recurrent models (also `model.attention`)
    beam: int = 1  # test decoding: 1 = greedy, else beam search of this width
    length_penalty: float = 0.6  # beam search: GNMT alpha (0: none)
    max_decode: int | None = None  # longest output; None: the longest training target + 8
    label_smoothing: float = 0.0


@dataclass(kw_only=True)
class TrainConfig:
    max_epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps in total
    max_seconds: float | None = None  # wall-clock training budget (stops mid-epoch; timing-dependent, so not bitwise
    # reproducible across machines)
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = 0.9  # SGD only
    schedule: Literal["constant", "cosine", "step", "plateau"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # schedule=cosine decays to train.lr * min_lr_ratio
    beta2: float = 0.999  # AdamW's second-moment decay (0.99 suits small data and short runs)
    step_epochs: int = 1  # schedule=step: multiply the lr by gamma every step_epochs epochs
    gamma: float = 0.5  # schedule=step and schedule=plateau: the decay factor
    clip_norm: float | None = 1.0  # clip gradients by global norm; None: off
    lr_mult: dict[str, float] = field(default_factory=dict)  # layer-wise lr: parameter-name prefix -> multiplier
    patience: int | None = 3  # early stopping on validation loss (best weights restored); None: off
    seed: int = 0
    threads: int | None = None  # torch intra-op threads; None: torch's default
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    grad_checkpointing: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True  # a progress bar when stdout is a terminal


@dataclass(kw_only=True)
class EvalConfig:
    split: Literal["val", "test"] = "test"
    batch_size: int = 256


@dataclass(kw_only=True)
class RunConfig:
    task: Any = field(default_factory=TaskConfig)  # TaskConfig (forecast), LMTaskConfig or ClassifyTaskConfig
    model: Any = None  # the chosen model's own Config dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS = {"task": TaskConfig, "train": TrainConfig, "eval": EvalConfig}
TASK_CONFIGS: dict[str, type] = {
    "forecast": TaskConfig,
    "lm": LMTaskConfig,
    "classify": ClassifyTaskConfig,
    "seq2seq": Seq2SeqTaskConfig,
}
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
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{prefix}.{close[0]}'?" if close else ""
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
    if len(parts) < 2 or parts[0] not in (*SECTIONS, "model") or not all(parts):
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
    """Turn a nested dict (from YAML and overrides) into a typed RunConfig."""
    from seqarena.registry import get_model

    for key in raw:
        if key not in (*SECTIONS, "model"):
            close = difflib.get_close_matches(key, [*SECTIONS, "model"], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown config section '{key}'{hint} (sections: task, model, train, eval)")
        if raw[key] is not None and not isinstance(raw[key], dict):
            raise ConfigError(f"config section '{key}' must be a mapping of options, got {raw[key]!r}")
    model_raw = dict(raw.get("model") or {})
    task_raw = dict(raw.get("task") or {})
    task_name = str(task_raw.get("name", "forecast"))
    if task_name not in TASK_CONFIGS:
        close = difflib.get_close_matches(task_name, list(TASK_CONFIGS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown task '{task_name}'{hint} (tasks: {', '.join(TASK_CONFIGS)})")
    if "tie_weights" in model_raw:  # the embedding and output layer belong to the task; accept the common spelling
        if task_name != "lm":
            raise ConfigError("model.tie_weights applies to language models (task.name=lm)")
        task_raw["tie_weights"] = model_raw.pop("tie_weights")
    if "attention" in model_raw and task_name == "seq2seq":  # the decoder's attention belongs to the task
        task_raw["attention"] = model_raw.pop("attention")
    model_cls = get_model(str(model_raw.get("name", "lstm")))
    model_raw["name"] = model_cls.name
    if task_name == "lm" and "causal" in {f.name for f in dataclasses.fields(model_cls.Config)}:
        model_raw.setdefault("causal", True)  # a language model must not see the next token
    return RunConfig(
        task=from_dict(TASK_CONFIGS[task_name], task_raw, "task"),
        model=from_dict(model_cls.Config, model_raw, "model"),
        train=from_dict(TrainConfig, raw.get("train"), "train"),
        eval=from_dict(EvalConfig, raw.get("eval"), "eval"),
    )


def dump_yaml(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
