"""Name -> class maps for models, tasks and encoder-decoder forms: the only lists of them.

Built-in modules are imported on first use, so an optional dependency that is missing only disables the models
that need it (listed with the reason). A user's own model or task registers itself with `@register_model(...)` or
`@register_task(...)` when its module is imported; modules named in SEQARENA_PLUGINS (comma-separated) are imported
on first use too, and the arena's workers import the modules of the models and tasks they run.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqarena.errors import ConfigError, did_you_mean

DEFAULT_TASK = "forecast"
DEFAULT_MODEL = "lstm"
_BUILTIN_MODEL_MODULES = (
    "seqarena.models.rnn",
    "seqarena.models.transformer",
    "seqarena.models.linear",
    "seqarena.models.naive",
    "seqarena.models.statistical",
    "seqarena.models.tcn",
    "seqarena.models.s4d",
    "seqarena.models.hybrid",
    "seqarena.models.mamba",
    "seqarena.models.lstm_variants",
    "seqarena.models.grud",
    "seqarena.models.ode_rnn",
    "seqarena.models.separable_rnn",
    "seqarena.models.tapered",
    "seqarena.models.bigbird",
    "seqarena.models.reformer",
    "seqarena.models.memory_transformer",
    "seqarena.models.encdec",
)
_BUILTIN_TASKS = {  # name -> module; each module registers its task class with @register_task
    "forecast": "seqarena.tasks.forecast",
    "lm": "seqarena.tasks.lm",
    "classify": "seqarena.tasks.classify",
    "seq2seq": "seqarena.tasks.seq2seq",
    "tag": "seqarena.tasks.tag",
    "next_item": "seqarena.tasks.next_item",
    "anomaly": "seqarena.tasks.anomaly",
    "adding": "seqarena.tasks.diagnostic",
    "copy_memory": "seqarena.tasks.diagnostic",
    "selective_copy": "seqarena.tasks.diagnostic",
    "mqar": "seqarena.tasks.diagnostic",
    "induction": "seqarena.tasks.diagnostic",
}
_MODELS: dict[str, type] = {}
_TASKS: dict[str, type] = {}
_UNAVAILABLE: dict[str, str] = {}  # model module -> why it could not be imported
_loaded = False


@dataclass(frozen=True)
class EncDecForm:
    """How a backbone becomes an encoder-decoder: build(model_cfg, src_vocab, tgt_vocab, attention) -> module."""

    build: Callable[..., Any]
    attention: tuple[str, ...] = ()  # the task.attention kinds the form takes; () = it has its own (cross-attention)


_ENCDEC: dict[str, EncDecForm] = {}


def _register(table: dict[str, type], name: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.name = name
        table[name] = cls
        return cls

    return wrap


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a SequenceModel available as `model.name=<name>` everywhere."""
    return _register(_MODELS, name)


def register_task(name: str) -> Callable[[type], type]:
    """Class decorator: make a Task (tasks/base.py) available as `task.name=<name>` everywhere."""
    return _register(_TASKS, name)


def register_encdec(*names: str, attention: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Function decorator: the encoder-decoder form of the named backbones (sequence-to-sequence)."""

    def wrap(build: Callable) -> Callable:
        for name in names:
            _ENCDEC[name] = EncDecForm(build, attention)
        return build

    return wrap


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # an optional dependency is missing
            _UNAVAILABLE[module] = str(exc)
    load_plugins([m.strip() for m in os.environ.get("SEQARENA_PLUGINS", "").split(",") if m.strip()])


def load_plugins(modules: list[str]) -> None:
    """Import modules that register models or tasks (a user's own, or those an arena's parent process had)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"cannot import plugin module '{module}' ({exc}); check SEQARENA_PLUGINS") from None


def plugin_modules(*classes: type) -> list[str]:
    """The modules outside seqarena that define these registered classes: what another process must import to
    know them (a script's own registrations re-run in spawned workers by themselves)."""
    found = {c.__module__ for c in classes if not c.__module__.startswith("seqarena.")}
    return sorted(found - {"__main__", "__mp_main__"})


def model_names() -> list[str]:
    _load_builtins()
    return sorted(_MODELS)


def get_model(name: str) -> Any:
    _load_builtins()
    if name not in _MODELS:
        hint = did_you_mean(name, _MODELS)
        raise ConfigError(f"unknown model '{name}'{hint} (models: {', '.join(model_names())}; see `seqarena models`)")
    return _MODELS[name]


def task_names() -> list[str]:
    _load_builtins()
    return sorted({*_BUILTIN_TASKS, *_TASKS})


def get_task(name: str) -> Any:
    _load_builtins()
    if name not in _TASKS and name in _BUILTIN_TASKS:
        importlib.import_module(_BUILTIN_TASKS[name])
    if name not in _TASKS:
        hint = did_you_mean(name, task_names())
        raise ConfigError(f"unknown task '{name}'{hint} (tasks: {', '.join(task_names())})")
    return _TASKS[name]


def get_encdec(name: str) -> EncDecForm | None:
    _load_builtins()
    return _ENCDEC.get(name)


def encdec_names() -> list[str]:
    _load_builtins()
    return sorted(_ENCDEC)
