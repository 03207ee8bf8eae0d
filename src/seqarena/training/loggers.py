"""Experiment tracking beside metrics.jsonl (which every run writes): `train.loggers: [tensorboard, mlflow]`.

A logger gets the resolved config once and one record per epoch (the same dict as a metrics.jsonl line). The
TensorBoard logger writes event files to <run>/tensorboard (open with `tensorboard --logdir runs`); the MLflow one
logs to MLFLOW_TRACKING_URI (else sqlite:///<run>/mlflow.db) and keeps its run id in <run>/mlflow.json, so a
resumed run continues the same MLflow run. Both need `pip install 'seqarena[track]'`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from seqarena import extras
from seqarena.files import read_json, write_json


class Logger(Protocol):
    def start(self, config: dict[str, Any], run_dir: Path) -> None: ...
    def epoch(self, record: dict[str, Any]) -> None: ...
    def close(self, ok: bool) -> None: ...


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in record.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and k not in ("epoch", "step")
    }


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


class TensorBoardLogger:
    def __init__(self) -> None:
        extras.need("tensorboard", "track")
        from torch.utils.tensorboard import SummaryWriter

        self._writer_cls, self.writer = SummaryWriter, None

    def start(self, config: dict[str, Any], run_dir: Path) -> None:
        self.writer = self._writer_cls(log_dir=str(run_dir / "tensorboard"))
        table = "\n".join(f"| {k} | {v} |" for k, v in _flat(config).items())
        self.writer.add_text("config", "| option | value |\n|---|---|\n" + table, 0)

    def epoch(self, record: dict[str, Any]) -> None:
        for key, value in _scalars(record).items():
            tag = key.replace("_", "/", 1) if key.startswith(("train_", "val_", "test_")) else key  # train/loss
            self.writer.add_scalar(tag, value, record["step"])
        self.writer.flush()

    def close(self, ok: bool) -> None:
        if self.writer is not None:
            self.writer.close()


class MLflowLogger:
    def __init__(self) -> None:
        self.mlflow = extras.need("mlflow", "track")
        self.run_id: str | None = None

    def start(self, config: dict[str, Any], run_dir: Path) -> None:
        mlflow = self.mlflow
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
        self.client = mlflow.tracking.MlflowClient(uri)
        marker = run_dir / "mlflow.json"
        if marker.is_file():  # a resumed run continues its MLflow run
            self.run_id = read_json(marker)["run_id"]
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "seqarena")
        found = self.client.get_experiment_by_name(name)
        experiment = found.experiment_id if found else self.client.create_experiment(name)
        run = self.client.create_run(experiment, run_name=run_dir.name, tags={"seqarena.run_dir": str(run_dir)})
        self.run_id = run.info.run_id
        params = [mlflow.entities.Param(k, v[:500]) for k, v in _flat(config).items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[i : i + 100])
        write_json(marker, {"run_id": self.run_id, "tracking_uri": uri})

    def epoch(self, record: dict[str, Any]) -> None:
        stamp = int(1000 * time.time())
        metrics = [self.mlflow.entities.Metric(k, v, stamp, record["step"]) for k, v in _scalars(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, ok: bool) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status="FINISHED" if ok else "FAILED")


class Tracking:
    """The run's loggers as one: each epoch's record, the final split metrics, closed as finished or failed."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers, self.step = loggers, 0

    def epoch(self, record: dict[str, Any]) -> None:
        self.step = record["step"]
        for logger in self.loggers:
            logger.epoch(record)

    def final(self, results: dict[str, dict[str, Any]]) -> None:
        names = {"val": "best_val"}  # the restored weights' validation figures, apart from the per-epoch curve
        flat = {f"{names.get(split, split)}_{k}": v for split, metrics in results.items() for k, v in metrics.items()}
        self.epoch({"step": self.step, **flat})  # at the last training step


@contextlib.contextmanager
def tracking(names: list[str], config: dict[str, Any], run_dir: Path) -> Iterator[Tracking]:
    """The configured loggers, started (each checks its library first), closed as FAILED if the block raises."""
    loggers: list[Logger] = [
        TensorBoardLogger() if n == "tensorboard" else MLflowLogger() for n in dict.fromkeys(names)
    ]
    for logger in loggers:
        logger.start(config, run_dir)
    ok = False
    try:
        yield Tracking(loggers)
        ok = True
    finally:
        for logger in loggers:
            logger.close(ok)
