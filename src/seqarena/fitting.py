"""`seqarena.fit(data, model=..., horizon=...)`: train a forecaster on a pandas DataFrame (wide, or long with
`unique_id, ds, y`) or a numpy array, the way forecasting libraries are called. The table is saved into the run
directory as data.csv, so the run is evaluated, resumed and reproduced from its own files like any other run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.config import RunConfig, build, dump_yaml, load_yaml
from seqarena.data.panel import to_frame
from seqarena.errors import ConfigError
from seqarena.files import read_json, write_json
from seqarena.run import RunResult, train

DATA = "data.csv"
TASK_ARGS = (
    "target",
    "features",
    "id_column",
    "time_column",
    "distribution",
    "quantiles",
    "fill",
    "gaps",
    "future_columns",
    "calendar",
    "static_columns",
)


def fit(
    data: Any,
    model: str = "lstm",
    *,
    horizon: int | None = None,
    lookback: int | None = None,
    out: str | Path | None = None,
    config: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = logs.info,
    **task: Any,
) -> RunResult:
    """Train `model` to forecast `horizon` steps of `data` (a DataFrame or array; a str or Path is a file).

    `out` is the run directory (None: a new temporary one, which the caller may delete). `config` holds any other
    settings by section ({"train": {"max_epochs": 5}}); `task` takes target, features, id_column, time_column,
    distribution, quantiles, fill, gaps, future_columns, calendar and static_columns. Returns the RunResult;
    `result.predict(df)` forecasts from it (`future=` a table of the future-known columns over the horizon)."""
    unknown = [k for k in task if k not in TASK_ARGS]
    if unknown:
        raise ConfigError(
            f"fit() got an unknown option '{unknown[0]}'; task options are {', '.join(TASK_ARGS)}, and the others go "
            f"in config={{'train': {{...}}, 'model': {{...}}}}"
        )
    cfg = {section: dict(values) for section, values in (config or {}).items()}
    cfg.setdefault("task", {}).update({"name": "forecast", **task})
    cfg.setdefault("model", {}).setdefault("name", model)
    for key, value in (("horizon", horizon), ("lookback", lookback)):
        if value is not None:
            cfg["task"][key] = value
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="seqarena-fit-")) / "run"
    if isinstance(data, (str, Path)):
        cfg["task"]["data"] = str(data)
        return train(cfg, out, overrides=overrides, log=log)
    with tempfile.TemporaryDirectory(prefix="seqarena-data-") as staging:
        staged = Path(staging) / DATA
        to_frame(data).to_csv(staged, index=False)
        cfg["task"]["data"] = str(staged)
        result = train(cfg, out, overrides=overrides, log=log)
        shutil.copyfile(staged, out / DATA)  # the run keeps its data: evaluate and --resume read it there
    result.config = _point_at(out, out / DATA)
    return result


def _point_at(run_dir: Path, data: Path) -> RunConfig:
    """config.yaml and run.json name the table where the run keeps it (the same bytes, so the same sha256)."""
    raw = load_yaml(run_dir / "config.yaml")
    raw["task"]["data"] = str(data.resolve())
    cfg = build(raw)
    dump_yaml(cfg, run_dir / "config.yaml")
    info = read_json(run_dir / "run.json")
    info["data"]["name"] = str(data.resolve())
    write_json(run_dir / "run.json", info)
    return cfg
