"""Forecasting: features M/S/MS, lookback -> horizon, direct multi-horizon head, MSE/MAE on the scaled values
(the convention of the published ETT tables) plus MAE/RMSE/MAPE/sMAPE/MASE in original units."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import calendar, rolling
from seqarena.data import registry as datasets
from seqarena.data.panel import Panel
from seqarena.data.timeseries import fill_missing, infer_freq, resolve_gaps
from seqarena.errors import ConfigError, DataError
from seqarena.ranges import at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks import forecast_covariates as cov
from seqarena.tasks import forecast_dist as dist
from seqarena.tasks.base import COST, LATENCY, Column, Distillable, Metric, Requires, Task, refuse_unless_default
from seqarena.tasks.forecast_data import combined, constant_columns, panel_gap_unit, prepare
from seqarena.tasks.forecast_dist import check_quantiles
from seqarena.tasks.forecast_metrics import Sums
from seqarena.tasks.forecast_model import ForecastModel, make_model
from seqarena.tasks.windows import Scaler, check_split_option, split_bounds

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)  # the 90%, 80% and 50% central intervals and the median


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
    id_column: str | None = None  # long format: the series id column (None: unique_id, series_id or item_id if present)
    distribution: Literal["point", "quantile", "normal", "student_t"] = "point"  # what the model outputs per step
    quantiles: list[float] = field(default_factory=lambda: list(QUANTILES))  # scored (CRPS, coverage), predicted
    rolling_windows: list[int] = field(default_factory=list)  # derived inputs: the target's rolling statistics
    rolling_stats: list[str] = field(default_factory=lambda: ["mean", "std"])  # over each window: mean std min max
    eval_stride: int = opt(1, at_least(1))  # score every k-th validation/test window (1: all of them)
    split: list[float] | None = None  # train/val/test: three ratios (0.7, 0.1, 0.2) or row counts; None: the data's
    conformal: bool = True  # intervals calibrated on the validation split (point: conformal; others: CQR)
    future_columns: list[str] = field(default_factory=list)  # columns known ahead: inputs, read over the horizon too
    calendar: list[str] = field(default_factory=list)  # future-known sin/cos features of the time: hour, ... or auto
    static_columns: list[str] = field(default_factory=list)  # long format: columns holding one value per series


MSE = Metric("mse", "test MSE")


def check_rolling(windows: list[int], stats: list[str]) -> list[str]:
    bad = [w for w in windows if w < 2]
    if bad:
        raise ConfigError(f"task.rolling_windows={windows}: each window is at least 2 rows")
    unknown = [s for s in stats if s not in rolling.STATS]
    if unknown or not stats:
        raise ConfigError(f"task.rolling_stats={stats}: choose from {', '.join(rolling.STATS)}")
    return list(stats)


@register_task("forecast")
class ForecastTask(Task):
    """Owns the data of one forecasting run: splits, scaler, windows, metrics and prediction."""

    Config = ForecastConfig
    requires = Requires(kinds=("backbone", "forecaster"))
    metric = MSE
    quality = (MSE, Metric("mae", "test MAE"), Metric("mae_orig", "test MAE in data units"),
               Metric("mase", "test MASE"), Metric("crps", "test CRPS"),
               Metric("msis_80", "test MSIS (80%)"))  # fmt: skip
    columns = (
        Column("test MSE", "test_mse", 4, True),
        Column("test MAE", "test_mae", 4, True),
        Column("MAE (data units)", "test_mae_orig", 4, True),
        Column("MASE", "test_mase", 3, True),
        Column("CRPS", "test_crps", 4, True),
        Column("80% cover", "test_coverage_80", 3),
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
        loaded, self.info, self.data_sha256 = datasets.load_panel(tc.data, tc.data_args, tc.time_column, tc.id_column)
        filled = [fill_missing(s, tc.fill or self.info.fill) for s in loaded.series]
        panel = Panel(loaded.ids, filled, loaded.source, loaded.id_column)
        self.checksum = panel.checksum()  # of the data as given, before any derived column
        panel, static = cov.split_static(panel, tc.static_columns, tc.data)  # static: (S, K) or None
        self.panel = panel
        self.series = series = panel.series[0]
        self.data_columns = list(series.columns)
        self.split = check_split_option(tc.split, panel.long) if tc.split is not None else self.info.split
        self.target = tc.target or (self.info.target if self.info.target in series.columns else series.columns[-1])
        if self.target not in series.columns:
            raise DataError(f"task.target '{self.target}' is not a column of {tc.data}; columns: {series.columns}")
        future = cov.check_future(tc.future_columns, series.columns, self.target, tc.data)
        self.in_columns = [self.target, *future] if tc.features == "S" else list(series.columns)
        self.out_columns = [c for c in self.in_columns if c not in future] if tc.features == "M" else [self.target]
        if tc.rolling_windows:  # sliding-window statistics of the target: more inputs, never outputs
            stats = check_rolling(tc.rolling_windows, tc.rolling_stats)
            derived = [rolling.derive(s, self.target, tc.rolling_windows, stats) for s in panel.series]
            self.panel = panel = Panel(panel.ids, derived, panel.source, panel.id_column)
            self.series = series = panel.series[0]
            self.in_columns += rolling.names(self.target, tc.rolling_windows, stats)
        features = calendar.resolve(tc.calendar, series.time, tc.data)
        if features:  # future-known by construction: inputs, and read over the horizon
            self.panel = panel = Panel(panel.ids, [calendar.derive(s, features) for s in panel.series], panel.source,
                                       panel.id_column)  # fmt: skip
            self.series = series = panel.series[0]
            self.in_columns += calendar.names(features)
            tc = replace(tc, calendar=features)
        self.future_columns = future + calendar.names(features)
        self.static_raw = static  # (S, K) in data units, saved with the run
        self.static_scaler = None if static is None else Scaler.fit(static)  # across series
        self.static = None if static is None else self.static_scaler.transform(static)  # (S, K)
        self.out_idx = [self.in_columns.index(c) for c in self.out_columns]
        self.n_rows = len(series.values)
        self.cfg = cfg = self.resolve(replace(cfg, task=tc))
        tc = cfg.task
        self.gap_unit = self._gap_unit(tc)
        self.parts = prepare(panel, self.in_columns, self.out_idx, self.split, tc.lookback, tc.horizon,
                             self.gap_unit, tc.data, not self.info.quirk, tc.eval_stride,
                             [self.in_columns.index(c) for c in self.future_columns], self.static)  # fmt: skip
        self.bounds, self.scaler = self.parts[0].bounds, self.parts[0].scaler  # the (first) series'
        self.windows = combined(self.parts)
        constant = constant_columns(self.parts, self.in_columns)
        if constant:
            self.notes.append(f"note: {', '.join(constant[:5])} never change in the training split; they tell the "
                              f"model nothing (scaled to 0)")  # fmt: skip
        self.conformal: torch.Tensor | None = None  # (Q, H, C_out) from validation residuals, for point models

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
        if self.panel.long:
            return panel_gap_unit(self.panel, tc.gaps, self.split, tc.lookback or 1, tc.data)
        n_train = split_bounds(self.n_rows, self.split, tc.lookback or 1)["train"][1]
        return resolve_gaps(self.series, tc.gaps, n_train, tc.data)

    def resolve(self, cfg: RunConfig) -> RunConfig:
        tc = cfg.task
        lookback, horizon = tc.lookback or self.info.lookback, tc.horizon or self.info.horizon
        tc = replace(tc, lookback=lookback, horizon=horizon)
        tc = replace(tc, gaps="on" if self._gap_unit(tc) else "off")
        model_cls = get_model(cfg.model.name)
        self.check_model(model_cls, cfg.model)
        covariates = tc.future_columns or tc.calendar or tc.static_columns
        if covariates and not model_cls.capabilities_of(cfg.model).trainable:
            self.notes.append(f"note: '{model_cls.name}' forecasts from the past values alone; the future-known and "
                              f"static covariates are for the trained models")  # fmt: skip
        tc = replace(tc, quantiles=check_quantiles(tc.quantiles, tc.distribution))
        if model_cls.kind == "forecaster":
            why = f"model '{model_cls.name}' maps the window to the forecast itself"
            if tc.distribution != "point":
                raise ConfigError(
                    f"task.distribution={tc.distribution} needs a backbone with a head (e.g. lstm); '{model_cls.name}' "
                    f"forecasts points, and gets conformal intervals from its validation errors with the default point"
                )
            refuse_unless_default(tc, "task.head", why)
            refuse_unless_default(cfg.train, "train.grad_checkpointing", why + " (there is no backbone to checkpoint)")
        return solve_width(replace(cfg, task=tc), self.build_model)

    def build_model(self, cfg: RunConfig) -> ForecastModel:
        n_static = 0 if self.static is None else self.static.shape[1]
        return make_model(cfg, len(self.in_columns), self.out_idx, self.info.period, len(self.future_columns),
                          n_static)  # fmt: skip

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> ForecastModel:
        out_idx = [artifacts["in_columns"].index(c) for c in artifacts["out_columns"]]
        n_static = len((artifacts.get("static") or {}).get("columns", []))
        return make_model(cfg, len(artifacts["in_columns"]), out_idx, artifacts["period"],
                          len(artifacts.get("future_columns", [])), n_static)  # fmt: skip

    def values_checksum(self) -> str:
        return self.checksum

    def n_train(self) -> int:
        return len(self.windows["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        return self.windows["train"].iterate(batch_size, generator)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, *future = batch  # future: the horizon's future-known values (B, H, F), when there are any
        tc = self.cfg.task
        return dist.loss(model(x, *future), y, tc.distribution, tc.quantiles)

    def why_no_distillation(self) -> str | None:
        d = self.cfg.task.distribution
        return None if d == "point" else f"train.teacher distils point forecasts; task.distribution={d} is not one"

    def distill_outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        x, y, *future = batch
        tc = self.cfg.task
        out = model(x, *future)  # (B, H, C_out)
        return Distillable(dist.loss(out, y, tc.distribution, tc.quantiles), out, "values")

    @torch.inference_mode()
    def calibrate(self, model: nn.Module, device: torch.device, batch_size: int = 256) -> None:
        """With task.conformal, intervals calibrated on the validation windows: a point model's half-widths from its
        normalised errors; a probabilistic model's intervals widened (or narrowed) to their nominal coverage."""
        tc = self.cfg.task
        if not tc.conformal:
            return
        was_training = model.training
        model.eval()
        scores = []
        for x, y, *future in self.windows["val"].iterate(batch_size):
            out = model(x.to(device), *[f.to(device) for f in future]).cpu()
            if tc.distribution == "point":
                scores.append((out - y).abs() / dist.window_scale(x, self.out_idx))  # (b, H, C_out)
            else:
                scores.append(dist.interval_scores(dist.quantiles_of(out, tc.distribution, tc.quantiles), y,
                                                   tc.quantiles))  # fmt: skip
        model.train(was_training)
        if tc.distribution == "point":
            self.conformal = dist.conformal_offsets(torch.cat(scores), tc.quantiles)  # (Q, H, C_out)
        else:
            self.conformal = dist.cqr_offsets(torch.cat(scores), tc.quantiles)  # (Q, H, C_out)

    def quantile_forecast(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        """(b, H, C_out, Q) quantiles in scaled units from a model's output for inputs x; None for a point model
        before `calibrate` (the validation scores during training)."""
        tc = self.cfg.task
        if tc.distribution == "point":
            if self.conformal is None:
                return None
            scale = dist.window_scale(x, self.out_idx).unsqueeze(-1)  # (b, 1, C_out, 1)
            return out.unsqueeze(-1) + scale * self.conformal.permute(1, 2, 0).to(out.dtype)  # (b, H, C, Q)
        q = dist.quantiles_of(out, tc.distribution, tc.quantiles)
        if self.conformal is not None:
            q = (q + self.conformal.permute(1, 2, 0).to(out.dtype)).sort(dim=-1).values
        return q

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        """Metrics over every window of the split (no dropped last batch), pooled over series and per series; the
        probabilistic ones (CRPS, coverage, MSIS) for a point model once `calibrate` has run."""
        tc = self.cfg.task
        was_training = model.training
        model.eval()
        sums = []
        for part in self.parts:
            acc = Sums(tc.quantiles)
            for x, y, *future in part.windows[split].iterate(batch_size):
                out = model(x.to(device), *[f.to(device) for f in future]).cpu()
                pred = dist.point(out, tc.distribution, tc.quantiles)  # (b, H, C_out)
                last = x[:, -1:, self.out_idx]  # (b, 1, C_out): the trivial baseline, the last value repeated
                acc.add(pred, y, last, part.norm, self.quantile_forecast(out, x))
            sums.append(acc)
        model.train(was_training)
        total = sum(sums[1:], sums[0])
        if total.s["count"] == 0:
            raise DataError(f"the {split} split has no windows")
        metrics = total.metrics()
        if self.panel.long:
            metrics["series"] = {p.sid: acc.metrics() for p, acc in zip(self.parts, sums, strict=True)}
        return metrics

    def artifacts(self) -> dict[str, Any]:
        """What `predict` needs, saved as JSON beside the weights (lookback and horizon are in config.yaml)."""
        freq = infer_freq(self.series.time) if self.series.time is not None else None
        tc = self.cfg.task
        art = {
            "in_columns": self.in_columns,
            "out_columns": self.out_columns,
            "target": self.target,
            "scaler": self.scaler.to_json(),
            "period": self.info.period,
            "freq": freq,
            "mase_scale": self.parts[0].norm["scale"].tolist(),
            "gap_unit_seconds": self.gap_unit,
            "splits": {s: {"rows": list(self.bounds[s]), "windows": len(self.windows[s])} for s in SPLITS},
            "conformal": None if self.conformal is None else self.conformal.tolist(),
            "rolling": {"windows": tc.rolling_windows, "stats": tc.rolling_stats} if tc.rolling_windows else None,
            "future_columns": self.future_columns,
            "calendar": tc.calendar,
        }
        if self.static is not None:
            values = {p.sid: self.static_raw[i].tolist() for i, p in enumerate(self.parts)}  # data units
            art["static"] = {"columns": tc.static_columns, "scaler": self.static_scaler.to_json(), "values": values}
        if self.panel.long:
            art["id_column"] = self.panel.id_column
            art["series"] = {p.sid: p.scaler.to_json() for p in self.parts}
        return art

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

        if model.is_forecaster and model.net.capabilities().family == "statistical":
            raise ConfigError(f"'{model.net.name}' fits each window with statsforecast; it has no ONNX graph")
        if model.distribution != "point" or "series" in artifacts or artifacts.get("future_columns"):
            what = "many series (one scaler each)" if "series" in artifacts else f"a {model.distribution} forecast"
            what = "future-known covariates" if artifacts.get("future_columns") else what
            raise ConfigError(f"ONNX export takes a single-series point forecaster, not {what}; use seqarena predict")
        return export_graphs(model, artifacts)

    @classmethod
    def backtest(cls, run: Any, windows: int, step: int | None, refit: str | int, log: Any) -> dict[str, Any]:
        from seqarena.tasks.forecast_backtest import backtest

        return backtest(run, windows, step, refit, log)

    @classmethod
    def predict(cls, run: Any, inputs: Any, ids: list[str] | None = None, intervals: bool = False,
                future: Any = None) -> tuple[Any, str]:  # fmt: skip
        """The horizon after each series of `inputs`; quantile columns from a probabilistic model, and from a
        point model's conformal intervals when `intervals`; `future`: the future-known columns over the horizon."""
        from seqarena.tasks.forecast_predict import predict_frame, read_inputs

        frame, source = read_inputs(inputs)
        ahead = None if future is None else read_inputs(future)[0]
        result = predict_frame(run.model, run.artifacts, run.config.task, frame, source, ids, intervals, ahead)
        return result, f"{len(result)} forecast steps of {', '.join(run.artifacts['out_columns'])}"
