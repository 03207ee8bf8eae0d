"""Name -> class maps for models and tasks. Built-in modules are imported on first use, so an optional
dependency that is missing only disables the models that need it (listed with the reason)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from seqarena.errors import ConfigError

_MODELS: dict[str, type] = {}
_UNAVAILABLE: dict[str, str] = {}  # model module -> why it could not be imported
_BUILTIN_MODEL_MODULES = (
    "seqarena.models.rnn",
    "seqarena.models.transformer",
    "seqarena.models.linear",
    "seqarena.models.naive",
    "seqarena.models.tcn",
    "seqarena.models.s4d",
    "seqarena.models.hybrid",
    "seqarena.models.mamba",
    "seqarena.models.lstm_variants",
    "seqarena.models.grud",
)
_TASKS = {
    "forecast": "seqarena.tasks.forecast:ForecastTask",
    "lm": "seqarena.tasks.lm:LMTask",
    "classify": "seqarena.tasks.classify:ClassifyTask",
    "seq2seq": "seqarena.tasks.seq2seq:Seq2SeqTask",
}
_loaded = False


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a SequenceModel available as `model.name=<name>` everywhere."""

    def wrap(cls: type) -> type:
        cls.name = name
        _MODELS[name] = cls
        return cls

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


def model_names() -> list[str]:
    _load_builtins()
    return sorted(_MODELS)


def get_model(name: str) -> Any:
    _load_builtins()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown model '{name}'{hint} (models: {', '.join(model_names())}; see `seqarena models`)")
    return _MODELS[name]


def get_task(name: str) -> Any:
    if name not in _TASKS:
        raise ConfigError(f"unknown task '{name}' (tasks: {', '.join(sorted(_TASKS))})")
    module, _, attr = _TASKS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def task_names() -> list[str]:
    return sorted(_TASKS)
