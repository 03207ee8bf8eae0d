"""Forecasting: features M/S/MS, lookback -> horizon, direct multi-horizon head, MSE/MAE on the scaled values
(the convention of the published ETT tables) plus MAE/RMSE/MAPE/sMAPE/MASE in original units."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.timeseries import check_time_order, fill_missing, gap_channel, infer_freq, resolve_gaps
from seqarena.errors import DataError
from seqarena.ranges import at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import COST, LATENCY, Column, Metric, Requires, Task, refuse_unless_default
from seqarena.tasks.forecast_model import ForecastModel, make_model
from seqarena.tasks.windows import Scaler, Windows, check_lengths, split_bounds


@dataclass(kw_only=True)
class ForecastConfig:
    name: Literal["forecast"] = "forecast"
    data: str = "co2"  # a registered dataset name or a path to a CSV file
    data_args: dict[str, Any] = field(default_factory=dict)  # options of generated datasets (synthetic)
    features: Literal["M", "S", "MS"] = "M"  # M: all -> all, S: target -> target, MS: all -> target
    target: str | None = None  # target column for S/MS; the dataset's default (else its last column)
    lookback: int | None = opt(None, at_least(1))  # None: the dataset's default, else 96
    horizon: int | None = opt(None, at_least(1))  # None: the dataset's default, else 96
    fill: Literal["ffill", "interpolate", "zero"] | None = None  # how to fill NaNs; None: NaNs are an error
    revin: bool = True  # normalise each input window by its own mean/std and restore it on the output
    head: Literal["last", "mean", "flatten"] = "last"  # how a backbone's (B, T, D) output becomes a forecast
    time_column: str | None = None  # None: detect ("date", "time", "timestamp" or the first non-numeric column)
    gaps: Literal["auto", "on", "off"] = "auto"  # feed the time between observations (auto: on when uneven)


MSE = Metric("mse", "test MSE")


@register_task("forecast")
class ForecastTask(Task):
    """Owns the data of one forecasting run: splits, scaler, windows, metrics and prediction."""

    Config = ForecastConfig
    requires = Requires(kinds=("backbone", "forecaster"))
    metric = MSE
    quality = (MSE, Metric("mae", "test MAE"), Metric("mae_orig", "test MAE in data units"),
               Metric("mase", "test MASE"))  # fmt: skip
    columns = (
        Column("test MSE", "test_mse", 4, True),
        Column("test MAE", "test_mae", 4, True),
        Column("MAE (data units)", "test_mae_orig", 4, True),
        Column("MASE", "test_mase", 3, True),
        *COST,
        *LATENCY,
        Column("stream ms/step", "stream_step_ms", 3),
    )
    baselines = ("last_value", "seasonal_naive", "linear")
    references = {"last_value_mse": "repeating the last observed value scores MSE {value:.4f} on the same windows."}
    baseline = ("mse", "last_value_mse")
    sections = ("predictions",)
    loss_name = "MSE (scaled)"

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        self.notes = []
        tc = cfg.task
        if datasets.is_path(tc.data):  # absolute, so the run can be evaluated from any directory
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        loaded, self.info, self.data_sha256 = datasets.load(tc.data, tc.data_args, tc.time_column)
        self.series = series = fill_missing(loaded, tc.fill or self.info.fill)
        self.target = tc.target or (self.info.target if self.info.target in series.columns else series.columns[-1])
        if self.target not in series.columns:
            raise DataError(f"task.target '{self.target}' is not a column of {tc.data}; columns: {series.columns}")
        self.in_columns = [self.target] if tc.features == "S" else list(series.columns)
        self.out_columns = list(self.in_columns) if tc.features == "M" else [self.target]
        self.out_idx = [self.in_columns.index(c) for c in self.out_columns]
        self.n_rows = len(series.values)
        self.cfg = cfg = self.resolve(replace(cfg, task=tc))
        tc = cfg.task
        values = series.values[:, [series.columns.index(c) for c in self.in_columns]]  # (N, C_in)
        self.bounds = split_bounds(len(values), self.info.split, tc.lookback)
        check_lengths(self.bounds, tc.lookback, tc.horizon, tc.data)
        if series.time is not None and not self.info.quirk:  # a registered quirk is loaded as published
            check_time_order(series.time, tc.data, self.bounds)
        train_rows = values[: self.bounds["train"][1]]
        self.scaler = Scaler.fit(train_rows)
        constant = [c for c, sd in zip(self.in_columns, train_rows.std(axis=0), strict=True) if sd <= 1e-12]
        if constant:
            self.notes.append(f"note: {', '.join(constant[:5])} never change in the training split; they tell the "
                              f"model nothing (scaled to 0)")  # fmt: skip
        scaled = torch.from_numpy(self.scaler.transform(values)).float()  # (N, C_in)
        self.gap_unit = self._gap_unit(tc)
        if self.gap_unit:  # one more input channel: the time since the previous row, in median training gaps
            scaled = torch.cat([scaled, gap_channel(series.time, self.gap_unit)], dim=1)  # (N, C_in + 1)
        self.windows = {
            s: Windows(scaled[lo:hi], tc.lookback, tc.horizon, self.out_idx) for s, (lo, hi) in self.bounds.items()
        }
        diffs = np.abs(np.diff(train_rows[:, self.out_idx], axis=0))  # in-sample one-step naive errors
        self.mase_scale = np.where(diffs.mean(0) > 1e-12, diffs.mean(0), 1.0) if len(diffs) else np.ones(1)
        self.mape_floor = torch.tensor(0.01 * np.abs(train_rows[:, self.out_idx]).mean(0), dtype=torch.float64)

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        features = {"M": "every channel from every channel", "S": "the target from itself",
                    "MS": "the target from every channel"}.get(settings.get("features"), "")  # fmt: skip
        return [
            f"Each model reads the last {settings.get('lookback')} steps and forecasts the next "
            f"{settings.get('horizon')} ({features}); the split is chronological (train, then validation, then test).",
            "MSE and MAE are on standardised values (each channel scaled by its training mean and standard "
            "deviation), so they compare across channels; 'MAE (data units)' is in the data's own units, and MASE "
            "divides the error by the in-sample one-step naive error (below 1: better than that naive forecast).",
        ]

    def describe(self) -> dict[str, Any]:
        from seqarena.data.properties import irregularity, seasonality

        lo, hi = self.bounds["train"]
        column = self.series.columns.index(self.target)
        period, strength = seasonality(self.series.values[lo:hi, column])
        tc = self.cfg.task
        return {
            "samples": self.n_train(),
            "length": tc.lookback,
            "horizon": tc.horizon,
            "channels": len(self.in_columns),
            "period": period,
            "seasonal_strength": strength,
            "irregularity": irregularity(None if self.series.time is None else np.asarray(self.series.time[lo:hi])),
        }

    def _gap_unit(self, tc: Any) -> float | None:
        if self.info.quirk and tc.gaps == "auto":  # a registered series with a known timestamp oddity is regular
            return None
        n_train = split_bounds(self.n_rows, self.info.split, tc.lookback or 1)["train"][1]
        return resolve_gaps(self.series, tc.gaps, n_train, tc.data)

    def resolve(self, cfg: RunConfig) -> RunConfig:
        tc = cfg.task
        lookback, horizon = tc.lookback or self.info.lookback, tc.horizon or self.info.horizon
        tc = replace(tc, lookback=lookback, horizon=horizon)
        tc = replace(tc, gaps="on" if self._gap_unit(tc) else "off")
        model_cls = get_model(cfg.model.name)
        self.check_model(model_cls, cfg.model)
        if model_cls.kind == "forecaster":
            why = f"model '{model_cls.name}' maps the window to the forecast itself"
            refuse_unless_default(tc, "task.head", why)
            refuse_unless_default(cfg.train, "train.grad_checkpointing", why + " (there is no backbone to checkpoint)")
        return solve_width(replace(cfg, task=tc), self.build_model)

    def build_model(self, cfg: RunConfig) -> ForecastModel:
        return make_model(cfg, len(self.in_columns), self.out_idx, self.info.period)

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> ForecastModel:
        out_idx = [artifacts["in_columns"].index(c) for c in artifacts["out_columns"]]
        return make_model(cfg, len(artifacts["in_columns"]), out_idx, artifacts["period"])

    def values_checksum(self) -> str:
        return self.series.checksum()

    def n_train(self) -> int:
        return len(self.windows["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        return self.windows["train"].iterate(batch_size, generator)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x), y)

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        """Metrics over every window of the split (no dropped last batch)."""
        was_training = model.training
        model.eval()
        std = torch.tensor(self.scaler.std[self.out_idx], dtype=torch.float64)
        mean = torch.tensor(self.scaler.mean[self.out_idx], dtype=torch.float64)
        sums = dict.fromkeys(
            ("se", "ae", "ae_orig", "se_orig", "ape", "ape_n", "sape", "sape_n", "ase", "se_last"), 0.0
        )
        count = 0
        scale = torch.tensor(self.mase_scale, dtype=torch.float64)
        for x, y in self.windows[split].iterate(batch_size):
            pred = model(x.to(device)).double().cpu()  # (b, H, C_out)
            y = y.double()
            err = pred - y
            last = x[:, -1:, self.out_idx].double()  # (b, 1, C_out): the trivial baseline, the last value repeated
            sums["se_last"] += float(((last - y) ** 2).sum())
            sums["se"] += float((err**2).sum())
            sums["ae"] += float(err.abs().sum())
            p_orig, y_orig = pred * std + mean, y * std + mean
            e_orig = (p_orig - y_orig).abs()
            sums["ae_orig"] += float(e_orig.sum())
            sums["se_orig"] += float((e_orig**2).sum())
            sums["ase"] += float((e_orig / scale).sum())
            nz = y_orig.abs() > self.mape_floor  # near-zero targets make a percentage meaningless
            sums["ape"] += float((e_orig[nz] / y_orig.abs()[nz]).sum())
            sums["ape_n"] += int(nz.sum())
            denom = p_orig.abs() + y_orig.abs()
            ok = denom > 1e-8
            sums["sape"] += float((2 * e_orig[ok] / denom[ok]).sum())
            sums["sape_n"] += int(ok.sum())
            count += y.numel()
        model.train(was_training)
        if count == 0:
            raise DataError(f"the {split} split has no windows")
        return {
            "loss": sums["se"] / count,
            "mse": sums["se"] / count,
            "mae": sums["ae"] / count,
            "mae_orig": sums["ae_orig"] / count,
            "rmse_orig": (sums["se_orig"] / count) ** 0.5,
            "mape": 100 * sums["ape"] / max(sums["ape_n"], 1),
            "smape": 100 * sums["sape"] / max(sums["sape_n"], 1),
            "mase": sums["ase"] / count,
            "last_value_mse": sums["se_last"] / count,
            "windows": len(self.windows[split]),
        }

    def artifacts(self) -> dict[str, Any]:
        """What `predict` needs, saved as JSON beside the weights (lookback and horizon are in config.yaml)."""
        freq = infer_freq(self.series.time) if self.series.time is not None else None
        return {
            "in_columns": self.in_columns,
            "out_columns": self.out_columns,
            "target": self.target,
            "scaler": self.scaler.to_json(),
            "period": self.info.period,
            "freq": freq,
            "mase_scale": self.mase_scale.tolist(),
            "gap_unit_seconds": self.gap_unit,
            "splits": {s: {"rows": list(self.bounds[s]), "windows": len(self.windows[s])} for s in SPLITS},
        }

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        from seqarena.tasks.forecast_profile import first_predictions, latencies

        extras = {"predictions": first_predictions(model, self)}
        return {**super().profile(model, run_dir, training), **latencies(model), "extras": extras}

    @classmethod
    def onnx_model(cls, run: Any, graphs: Any) -> nn.Module:
        from seqarena.tasks.forecast_export import OnnxForecaster

        return OnnxForecaster(graphs, run.artifacts)

    @classmethod
    def streamer(cls, run: Any, graphs: Any) -> Any:
        from seqarena.tasks.forecast_export import ForecastStreamer

        return ForecastStreamer(run, graphs)

    @classmethod
    def export_graphs(cls, model: nn.Module, artifacts: dict[str, Any]) -> list[Any]:
        from seqarena.tasks.forecast_export import export_graphs

        return export_graphs(model, artifacts)

    @classmethod
    def predict(cls, run: Any, inputs: Path) -> tuple[Any, str]:
        import pandas as pd

        from seqarena.data.timeseries import read_csv
        from seqarena.tasks.forecast_predict import predict_frame

        tc = run.config.task
        read_csv(inputs, tc.time_column)  # the same checks as training data: path, emptiness, format
        result = predict_frame(run.model, run.artifacts, pd.read_csv(inputs), str(inputs), tc.time_column, tc.fill)
        return result, f"{len(result)} forecast steps of {', '.join(run.artifacts['out_columns'])}"
