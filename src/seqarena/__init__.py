"""seqarena: choose, train and ship sequence models, by measurement."""

from seqarena.version import __version__

_API = {  # name -> module; imported on first use, so `import seqarena` stays cheap
    "train": "seqarena.run",
    "fit": "seqarena.fitting",
    "load": "seqarena.run",
    "evaluate": "seqarena.run",
    "backtest": "seqarena.run",
    "predict": "seqarena.run",
    "generate": "seqarena.run",
    "translate": "seqarena.run",
    "RunResult": "seqarena.run",
    "LoadedRun": "seqarena.run",
    "cross_validate": "seqarena.cv",
    "compare": "seqarena.comparison",
    "RunConfig": "seqarena.config",
    "register_model": "seqarena.registry",
    "register_task": "seqarena.registry",
    "verbose": "seqarena.logs",
}


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(name)


__all__ = [*_API, "__version__"]
