"""seqarena: choose, train and ship sequence models, by measurement."""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy, so `import seqarena` stays cheap
    if name in ("train", "load", "evaluate", "generate", "RunResult", "LoadedRun"):
        from seqarena import run

        return getattr(run, name)
    if name == "cross_validate":
        from seqarena.cv import cross_validate

        return cross_validate
    if name == "RunConfig":
        from seqarena.config import RunConfig

        return RunConfig
    raise AttributeError(name)


__all__ = [
    "train",
    "load",
    "evaluate",
    "generate",
    "RunConfig",
    "RunResult",
    "LoadedRun",
    "cross_validate",
    "__version__",
]
