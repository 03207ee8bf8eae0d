"""Forecasting: features M/S/MS, lookback -> horizon, direct multi-horizon head, MSE/MAE on the scaled values
(the convention of the published ETT tables) plus MAE/RMSE/MAPE/sMAPE/MASE in original units."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.timeseries import fill_missing, frame_to_series
from seqarena.errors import DataError
from seqarena.models.base import ForecastSpec, SequenceModel
from seqarena.registry import get_model
from seqarena.sizing import has_width, match_width
from seqarena.tasks.windows import SPLITS, Scaler, Windows, check_lengths, split_bounds


class ForecastModel(nn.Module):
    """Wraps a backbone (embedding -> backbone -> head) or a forecaster, with optional RevIN around it."""

    def __init__(
        self, net: SequenceModel, spec: ForecastSpec, out_idx: list[int], head: str, revin: bool, gaps: bool = False
    ) -> None:
        super().__init__()
        self.net, self.spec, self.head_kind, self.revin, self.gaps = net, spec, head, revin, gaps
        self.register_buffer("out_idx", torch.tensor(out_idx), persistent=False)
        cap = net.capabilities()
        self.is_forecaster, self.time_aware = cap.kind == "forecaster", cap.time_aware
        self.grad_checkpointing = False
        if not self.is_forecaster:
            d, n_out = net.cfg.d_model, len(out_idx)
            gap_feature = gaps and not self.time_aware  # other backbones see the gap as one more input feature
            self.embed = nn.Linear(spec.channels + gap_feature, d)
            width = d * spec.lookback if head == "flatten" else d
            self.head = nn.Linear(width, spec.horizon * n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L, C_in) -> (B, H, C_out); with gaps, x: (B, L, C_in + 1), the last channel the time gaps
        dt = None
        if self.gaps:
            x, dt = x[..., :-1], x[..., -1]  # (B, L, C_in), (B, L)
        if self.revin:
            mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
            std = (x.var(dim=1, keepdim=True, unbiased=False) + 1e-5).sqrt()
            x = (x - mean) / std
        if self.is_forecaster:
            y = self.net(x)[0][..., self.out_idx]  # (B, H, C_out)
        else:
            extra = {}
            if dt is not None and self.time_aware:
                extra = {"dt": dt}
            elif dt is not None:
                x = torch.cat([x, dt.unsqueeze(-1)], dim=-1)  # (B, L, C_in + 1)
            h = self.embed(x)  # (B, L, D)
            if self.grad_checkpointing and self.training:
                h = checkpoint(lambda z: self.net(z, **extra)[0], h, use_reentrant=False)
            else:
                h = self.net(h, **extra)[0]  # (B, L, D)
            pooled = {"last": lambda: h[:, -1], "mean": lambda: h.mean(1), "flatten": lambda: h.flatten(1)}
            y = self.head(pooled[self.head_kind]()).view(x.shape[0], self.spec.horizon, -1)  # (B, H, C_out)
        if self.revin:
            y = y * std[..., self.out_idx] + mean[..., self.out_idx]
        return y


class ForecastTask:
    """Owns the data of one forecasting run: splits, scaler, windows, metrics and prediction."""

    def __init__(self, cfg: RunConfig) -> None:
        tc = cfg.task
        if datasets.is_path(tc.data):  # absolute, so the run can be evaluated from any directory
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        loaded, self.info, self.data_sha256 = datasets.load(tc.data, tc.data_args, tc.time_column)
        series = fill_missing(loaded, tc.fill or self.info.fill)
        cfg.task = tc = replace(tc, lookback=tc.lookback or self.info.lookback, horizon=tc.horizon or self.info.horizon)
        if tc.lookback < 1 or tc.horizon < 1:
            raise DataError("task.lookback and task.horizon must be >= 1")
        self.cfg, self.series = cfg, series
        target = tc.target or (self.info.target if self.info.target in series.columns else series.columns[-1])
        if target not in series.columns:
            raise DataError(f"task.target '{target}' is not a column of {tc.data}; columns: {series.columns}")
        self.target = target
        self.in_columns = [target] if tc.features == "S" else list(series.columns)
        self.out_columns = list(self.in_columns) if tc.features == "M" else [target]
        self.out_idx = [self.in_columns.index(c) for c in self.out_columns]
        values = series.values[:, [series.columns.index(c) for c in self.in_columns]]  # (N, C_in)
        self.bounds = split_bounds(len(values), self.info.split, tc.lookback)
        check_lengths(self.bounds, tc.lookback, tc.horizon, tc.data)
        train_rows = values[: self.bounds["train"][1]]
        self.scaler = Scaler.fit(train_rows)
        scaled = torch.from_numpy(self.scaler.transform(values)).float()  # (N, C_in)
        self.gap_unit = resolve_gaps(series, tc.gaps, self.bounds["train"][1], tc.data)
        cfg.task = tc = replace(tc, gaps="on" if self.gap_unit else "off")
        if self.gap_unit:  # one more input channel: the time since the previous row, in median training gaps
            scaled = torch.cat([scaled, gap_channel(series.time, self.gap_unit)], dim=1)  # (N, C_in + 1)
        self.windows = {
            s: Windows(scaled[lo:hi], tc.lookback, tc.horizon, self.out_idx) for s, (lo, hi) in self.bounds.items()
        }
        diffs = np.abs(np.diff(train_rows[:, self.out_idx], axis=0))  # in-sample one-step naive errors
        self.mase_scale = np.where(diffs.mean(0) > 1e-12, diffs.mean(0), 1.0) if len(diffs) else np.ones(1)
        self.mape_floor = torch.tensor(0.01 * np.abs(train_rows[:, self.out_idx]).mean(0), dtype=torch.float64)
        self.spec = ForecastSpec(tc.lookback, tc.horizon, len(self.in_columns), self.info.period)
        cfg.model = self.sized(cfg.model)

    def sized(self, model_cfg: Any) -> Any:
        """The model config with d_model set by its `params` target (if any) for this task's input and output."""
        if not (has_width(model_cfg) and model_cfg.params):
            return model_cfg
        build = lambda m: make_model(replace(self.cfg, model=m), self.spec, self.out_idx)  # noqa: E731
        return match_width(model_cfg, build, model_cfg.params)

    def values_checksum(self) -> str:
        return self.series.checksum()

    def write_artifacts(self, run_dir: Path) -> None:
        from seqarena.training.checkpoint import write_json

        write_json(run_dir / "task.json", self.artifacts())

    @classmethod
    def for_run(cls, cfg: RunConfig, run_dir: Path) -> ForecastTask:
        return cls(cfg)

    @staticmethod
    def load_model(cfg: RunConfig, run_dir: Path) -> tuple[ForecastModel, dict[str, Any]]:
        import json

        art = json.loads((run_dir / "task.json").read_text())
        spec = ForecastSpec(art["lookback"], art["horizon"], len(art["in_columns"]), art["period"])
        out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
        return make_model(cfg, spec, out_idx), art

    def check_model(self, model_cfg: Any) -> None:
        """Build (and size) this model for the task, so a bad option fails before any training."""
        make_model(replace(self.cfg, model=self.sized(model_cfg)), self.spec, self.out_idx)

    def build_model(self) -> ForecastModel:
        return make_model(self.cfg, self.spec, self.out_idx)

    def n_train(self) -> int:
        return len(self.windows["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        return self.windows["train"].iterate(batch_size, generator)

    @staticmethod
    def loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x), y)

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, float]:
        """Metrics over every window of the split (no dropped last batch)."""
        was_training = model.training
        model.eval()
        std = torch.tensor(self.scaler.std[self.out_idx], dtype=torch.float64)
        mean = torch.tensor(self.scaler.mean[self.out_idx], dtype=torch.float64)
        sums = dict.fromkeys(("se", "ae", "ae_orig", "se_orig", "ape", "ape_n", "sape", "sape_n", "ase"), 0.0)
        count = 0
        scale = torch.tensor(self.mase_scale, dtype=torch.float64)
        for x, y in self.windows[split].iterate(batch_size):
            pred = model(x.to(device)).double().cpu()  # (b, H, C_out)
            y = y.double()
            err = pred - y
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
            "windows": len(self.windows[split]),
        }

    def artifacts(self) -> dict[str, Any]:
        """What `predict` needs, saved as JSON beside the weights."""
        freq = None
        if self.series.time is not None and len(self.series.time) > 2:
            freq = _freq(self.series.time)
        return {
            "in_columns": self.in_columns,
            "out_columns": self.out_columns,
            "target": self.target,
            "scaler": self.scaler.to_json(),
            "lookback": self.spec.lookback,
            "horizon": self.spec.horizon,
            "period": self.spec.period,
            "freq": freq,
            "mase_scale": self.mase_scale.tolist(),
            "gap_unit_seconds": self.gap_unit,
            "splits": {s: {"rows": list(self.bounds[s]), "windows": len(self.windows[s])} for s in SPLITS},
        }


def _freq(time: pd.DatetimeIndex) -> str | None:
    """The series' frequency as a pandas alias, from its last timestamps (None if irregular)."""
    if len(time) < 3:
        return None
    tail = time[-min(len(time), 50) :]
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):  # pandas >= 3.1 warns otherwise
            freq = pd.infer_freq(tail)
    except (KeyError, pd.errors.OptionError):
        freq = pd.infer_freq(tail)
    return pd.tseries.frequencies.to_offset(freq).freqstr if freq is not None else None


def resolve_gaps(series: Any, gaps: str, n_train: int, name: str) -> float | None:
    """The median time between training rows in seconds, when the gaps are fed to the model; else None."""
    if gaps == "off":
        return None
    if series.time is None:
        if gaps == "on":
            raise DataError(f"task.gaps=on needs a time column, and {name} has none; set task.time_column")
        return None
    seconds = np.diff(series.time.as_unit("ns").asi8[:n_train]) / 1e9  # (n_train - 1,)
    if len(seconds) == 0:
        return None
    if (seconds <= 0).any():
        row = int(np.flatnonzero(seconds <= 0)[0]) + 1
        raise DataError(
            f"{name}: the time column does not increase at row {row + 2} ({series.time[row - 1]} -> "
            f"{series.time[row]}); sort the rows by time and remove duplicate timestamps"
        )
    unit = float(np.median(seconds))
    uneven = np.abs(seconds - unit).max() > 1e-6 * unit
    return unit if gaps == "on" or uneven else None


def gap_channel(time: pd.DatetimeIndex, unit: float) -> torch.Tensor:
    """(N, 1): seconds since the previous row / unit; the first row gets 1."""
    ns = time.as_unit("ns").asi8
    seconds = np.diff(ns, prepend=ns[0] - int(unit * 1e9)) / 1e9
    return torch.from_numpy(seconds / unit).float().unsqueeze(1)


def make_model(cfg: RunConfig, spec: ForecastSpec, out_idx: list[int]) -> ForecastModel:
    cls = get_model(cfg.model.name)
    net = cls(cfg.model, spec) if cls.kind == "forecaster" else cls(cfg.model)
    if "forecast" not in net.capabilities().tasks:
        raise DataError(f"model '{cls.name}' cannot forecast")
    return ForecastModel(net, spec, out_idx, cfg.task.head, cfg.task.revin, gaps=cfg.task.gaps == "on")


@torch.inference_mode()
def predict_frame(
    model: nn.Module, art: dict[str, Any], frame: pd.DataFrame, source: str, time_column: str | None, fill: str | None
) -> pd.DataFrame:
    """Forecast the `horizon` steps after the end of `frame`, in original units."""
    series = fill_missing(frame_to_series(frame, source, time_column), fill)
    missing = [c for c in art["in_columns"] if c not in series.columns]
    if missing:
        raise DataError(f"{source} lacks the column(s) {missing} the model was trained on")
    lookback = art["lookback"]
    if len(series.values) < lookback:
        raise DataError(f"{source} has {len(series.values)} rows; the model needs the last {lookback} (task.lookback)")
    scaler = Scaler.from_json(art["scaler"])
    values = series.values[-lookback:, [series.columns.index(c) for c in art["in_columns"]]]
    x = torch.from_numpy(scaler.transform(values)).float()[None]  # (1, L, C_in)
    unit = art.get("gap_unit_seconds")
    if unit:
        if series.time is None:
            raise DataError(f"{source} has no time column; the model was trained on the gaps between timestamps")
        x = torch.cat([x, gap_channel(series.time, unit)[-lookback:][None]], dim=2)  # (1, L, C_in + 1)
    model.eval()
    out_idx = [art["in_columns"].index(c) for c in art["out_columns"]]
    pred = model(x)[0].double().numpy() * scaler.std[out_idx] + scaler.mean[out_idx]  # (H, C_out)
    result = pd.DataFrame(pred, columns=art["out_columns"])
    if series.time is not None:
        freq = art.get("freq") or _freq(series.time)
        if unit:  # uneven gaps: the future rows are placed one median gap apart
            step = pd.Timedelta(seconds=unit)
        else:
            step = pd.tseries.frequencies.to_offset(freq) if freq else series.time[-1] - series.time[-2]
        times = [series.time[-1] + step * (i + 1) for i in range(len(result))]
        result.insert(0, "date", times)
    return result
