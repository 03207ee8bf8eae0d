"""seqarena tune: a hyper-parameter search on Optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, log, overrides
from seqarena.files import dumps


@app.command()
def tune(
    config: Annotated[
        Path | None, typer.Argument(help="a YAML run config; an optional tune: section holds the space")
    ] = None,
    data: Annotated[str | None, typer.Option(help="a registered dataset or a CSV path")] = None,
    model: Annotated[str | None, typer.Option(help="a registered model (see `seqarena models`)")] = None,
    trials: Annotated[int | None, typer.Option(help="trials in the study, all workers together (default 20)")] = None,
    timeout: Annotated[float | None, typer.Option(help="stop starting trials after this many seconds")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default: SQLite in --out); postgresql://... to share")
    ] = None,
    workers: Annotated[int, typer.Option(help="processes on this machine drawing trials of the study")] = 1,
    pruner: Annotated[str | None, typer.Option(help="median (default), hyperband or none")] = None,
    metric: Annotated[str | None, typer.Option(help="validation metric to optimise (default: the task's)")] = None,
    space: Annotated[Path | None, typer.Option(help="a YAML search space over the default one")] = None,
    out: Annotated[Path | None, typer.Option(help="study directory (default tunes/<model>-<data>)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override any field of the base config")] = None,
    executor: Annotated[str, typer.Option(help="local (processes) or ray (tasks on a cluster)")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray instance)")] = None,
    seed: Annotated[int, typer.Option(help="the sampler's seed (worker i uses seed + i)")] = 0,
) -> None:
    """Search hyper-parameters: TPE sampling with pruning on the per-epoch validation metric; writes best.yaml."""
    from seqarena.config import load_yaml, parse
    from seqarena.tune import tune as run_tune
    from seqarena.tune.study import split_config

    assignments = overrides(data=data, model=model, extra=set_)
    raw = load_yaml(config) if config is not None else {}
    if out is None:
        cfg = parse(split_config(raw)[0], assignments)
        out = Path("tunes") / f"{cfg.model.name}-{Path(str(cfg.task.data)).stem}"
    result = run_tune(raw, out, trials=trials, timeout=timeout, storage=storage, workers=workers, pruner=pruner,
                      metric=metric, space=load_yaml(space) if space else None, overrides=assignments, seed=seed,
                      executor=executor, address=address, log=log)  # fmt: skip
    keys = ("study", "metric", "trials", "complete", "pruned", "failed", "default_value", "best_value", "best_params")
    print(dumps({"out": str(out), **{k: result[k] for k in keys}, "best_config": str(out / "best.yaml")}, indent=2))
