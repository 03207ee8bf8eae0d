"""Anomaly detection on series: a model learns the normal series (training windows that hold no labelled anomaly),
every step gets a score (forecast or reconstruction error, tasks/anomaly_model.py), a threshold is chosen on the
validation part, and test is scored by point-wise precision/recall/F1, point-adjusted F1, average precision and the
top-1 rule (tasks/anomaly_metrics.py), beside the same threshold rule on the last-value error |x_t - x_(t-1)|^2.

Splits are chronological: train, then validation, then test (task.split shares; `ucr-bleeding` keeps its archive's
normal prefix as train + validation, its last fifth validating). Values are scaled by the training mean and std."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from seqarena.config import RunConfig
from seqarena.data.anomalies import AnomalySet, inject, load_anomalies
from seqarena.errors import ConfigError, DataError
from seqarena.ranges import NON_NEGATIVE, UNIT, at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.anomaly_metrics import best_f1_threshold, detection_metrics, quantile_threshold
from seqarena.tasks.anomaly_model import AnomalyModel, last_value_scores, point_scores, window_loss
from seqarena.tasks.base import COST, LATENCY, Column, Metric, Task

DEFAULT_SHARES = [0.6, 0.2, 0.2]


@dataclass(kw_only=True)
class AnomalyConfig:
    name: Literal["anomaly"] = "anomaly"
    data: str = "ucr-bleeding"  # ucr-bleeding, a CSV/Parquet file, or (with inject) a forecasting dataset name
    columns: list[str] | None = None  # the value columns (default: every numeric column but the label and time)
    label_column: str = "is_anomaly"  # 1 marks an anomalous step
    inject: bool = False  # add seeded anomalies (spikes, level shifts, noise bursts, flatlines) as the labels
    inject_seed: int = opt(0, NON_NEGATIVE)
    inject_every: int = opt(200, at_least(20))  # one injected anomaly per this many steps on average
    score: Literal["forecast", "reconstruction"] = "forecast"
    window: int = opt(64, at_least(4))  # the steps a model reads at once
    bottleneck: int = opt(8, at_least(1))  # reconstruction: the width of the code a window passes through
    threshold: Literal["best_f1", "quantile"] | None = None  # None: best_f1 when validation holds labelled
    # anomalies, else quantile (resolved and recorded)
    quantile: float = opt(1.0, UNIT)  # threshold=quantile: this quantile of the validation scores (1: the largest)
    split: list[float] | None = opt(None, UNIT)  # chronological train/val/test shares (default 0.6, 0.2, 0.2)
    tolerance: int = opt(100, NON_NEGATIVE)  # top-1 hit: the highest test score this near a labelled step


F1 = Metric("f1", "test F1", True, share=True)


@register_task("anomaly")
class AnomalyTask(Task):
    Config = AnomalyConfig
    metric = F1
    quality = (F1, Metric("pa_f1", "test point-adjusted F1", True, share=True),
               Metric("auc_pr", "test average precision", True, share=True),
               Metric("top_hit", "test top-1 hit", True, share=True))  # fmt: skip
    columns = (Column("test F1", "test_f1", 4, True), Column("test PA-F1", "test_pa_f1", 4, True),
               Column("test AUC-PR", "test_auc_pr", 4, True), Column("top-1 hit", "test_top_hit", 2), *COST,
               *LATENCY)  # fmt: skip
    references = {"baseline_f1": "the same threshold rule on the last-value error |x_t - x_(t-1)|^2 scores F1 "
                  "{value:.4f} on the same test steps.",
                  "baseline_auc_pr": "The last-value error scores average precision {value:.4f}."}  # fmt: skip
    loss_name = "MSE"
    baseline = ("f1", "baseline_f1")
    length_key = None

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        tc = cfg.task
        if Path(tc.data).expanduser().exists():
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        data = load_anomalies(tc.data, tc.columns, tc.label_column, need_labels=not tc.inject)
        self.notes: list[str] = []
        if tc.inject:
            data, counts = inject(data, tc.inject_seed, tc.inject_every)
            self.notes.append("injected " + ", ".join(f"{v} {k}s" for k, v in counts.items()))
        n = len(data.values)
        self.bounds = _bounds(data, tc.split)
        self.labels = data.labels
        a, b = self.bounds["train"]
        mean, std = data.values[a:b].mean(0), data.values[a:b].std(0)
        self.mean, self.std = mean, np.where(std > 1e-12, std, 1.0)
        self.x = torch.tensor((data.values - self.mean) / self.std, dtype=torch.float32)  # (T, C)
        for split in SPLITS:
            a, b = self.bounds[split]
            if b - a < tc.window + 1:
                raise DataError(f"{data.name}: the {split} part has {b - a} steps, fewer than task.window + 1 = "
                                f"{tc.window + 1}; lower task.window or change task.split")  # fmt: skip
        a, b = self.bounds["test"]
        if not self.labels[a:b].any():
            raise DataError(f"{data.name}: the test part (steps {a}-{b - 1}) holds no labelled anomaly; nothing to "
                            f"detect there. Change task.split or label the file")  # fmt: skip
        self.windows = {s: self._normal_windows(s, tc.window) for s in SPLITS}
        if not len(self.windows["train"]) or not len(self.windows["val"]):
            raise DataError(f"{data.name}: every training or validation window holds a labelled anomaly; give more "
                            f"normal data or a smaller task.window")  # fmt: skip
        dropped = (self.bounds["train"][1] - tc.window) - len(self.windows["train"])
        if dropped > 0:
            self.notes.append(f"note: {dropped} training windows hold a labelled anomaly and are left out")
        self.data_name, self.data_sha256, self.columns_used, self.steps = data.name, data.sha256, data.columns, n
        self.threshold: dict[str, float] = {}
        self.cfg = self.resolve(replace(cfg, task=tc))

    def _normal_windows(self, split: str, w: int) -> torch.Tensor:
        """(N, w + 1, C) windows inside the split that hold no labelled anomaly (stride 1)."""
        a, b = self.bounds[split]
        starts = torch.arange(a, b - w)
        bad = torch.tensor(np.convolve(self.labels.astype(np.int64), np.ones(w + 1, dtype=np.int64), "valid"))
        starts = starts[bad[starts] == 0]
        return self.x[starts[:, None] + torch.arange(w + 1)[None, :]]

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        rule = ("the F1-best threshold on validation" if settings.get("threshold") == "best_f1" else
                f"the {settings.get('quantile')} quantile of the validation scores")  # fmt: skip
        return [f"Each test step is scored by its {settings.get('score')} error and flagged above {rule}; F1, "
                f"precision and recall count steps (point-wise), PA-F1 counts a labelled segment as found when any "
                f"step of it is flagged (point-adjusted, which inflates), AUC-PR needs no threshold, and top-1 hit "
                f"asks whether the highest score lies within {settings.get('tolerance')} steps of a labelled one "
                f"(the KDD Cup 2021 rule)."]  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"samples": self.n_train(), "length": self.cfg.task.window, "channels": self.x.shape[1]}

    def resolve(self, cfg: RunConfig) -> RunConfig:
        tc = cfg.task
        model_cls = get_model(cfg.model.name)
        self.check_model(model_cls, cfg.model)
        if tc.score == "forecast" and not model_cls.capabilities_of(cfg.model).causal:
            raise ConfigError(f"model '{cfg.model.name}' is not causal, so it would see the step it forecasts; use "
                              f"task.score=reconstruction or a causal model")  # fmt: skip
        a, b = self.bounds["val"]
        has_val = bool(self.labels[a:b].any())
        if tc.threshold is None:
            tc = replace(tc, threshold="best_f1" if has_val else "quantile")
        elif tc.threshold == "best_f1" and not has_val:
            raise ConfigError("task.threshold=best_f1 needs labelled anomalies in the validation part, and it has "
                              "none; use task.threshold=quantile or change task.split")  # fmt: skip
        return solve_width(replace(cfg, task=tc), self.build_model)

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        return {"causal": True} if "causal" in getattr(model_cls.Config, "__dataclass_fields__", {}) else {}

    def values_checksum(self) -> str:
        import hashlib

        return hashlib.sha256(self.x.numpy().tobytes() + self.labels.tobytes()).hexdigest()

    def build_model(self, cfg: RunConfig) -> AnomalyModel:
        return _make(cfg, self.x.shape[1])

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> AnomalyModel:
        return _make(cfg, len(artifacts["columns"]))

    def n_train(self) -> int:
        return len(self.windows["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.windows["train"]), generator=generator)
        for i in range(0, len(order), batch_size):
            yield (self.windows["train"][order[i : i + batch_size]],)

    @staticmethod
    def loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return window_loss(model, batch[0])

    def scores(self, model: nn.Module, batch_size: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        """Per-step scores of the model and of the last-value baseline over the whole series."""
        return point_scores(model, self.x, batch_size, device), last_value_scores(self.x)

    def fit_threshold(self, scores: np.ndarray) -> float:
        a, b = self.bounds["val"]
        s, y = scores[a:b], self.labels[a:b]
        tc = self.cfg.task
        if tc.threshold == "best_f1":
            return best_f1_threshold(s, y)
        return quantile_threshold(s[~y], tc.quantile)

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        windows = self.windows[split]
        with torch.inference_mode():
            was = model.training
            model.eval()
            losses = [float(window_loss(model, windows[i : i + 1024].to(device))) * len(windows[i : i + 1024])
                      for i in range(0, len(windows), 1024)]  # fmt: skip
            model.train(was)
        out: dict[str, Any] = {"loss": sum(losses) / max(1, len(windows))}
        model_scores, base_scores = self.scores(model, batch_size, device)
        a, b = self.bounds[split]
        a = max(a, 1)  # the first step has no last value (nor a forecast)
        tol = self.cfg.task.tolerance
        for prefix, s in (("", model_scores), ("baseline_", base_scores)):
            found = detection_metrics(s[a:b], self.labels[a:b], self.fit_threshold(s), tol)
            out.update({f"{prefix}{k}": v for k, v in found.items()})
        return out

    def calibrate(self, model: nn.Module, device: torch.device) -> None:
        model_scores, base_scores = self.scores(model, 256, device)
        self.threshold = {"model": self.fit_threshold(model_scores), "baseline": self.fit_threshold(base_scores)}

    def artifacts(self) -> dict[str, Any]:
        tc = self.cfg.task
        return {"columns": self.columns_used, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "threshold": self.threshold.get("model"), "baseline_threshold": self.threshold.get("baseline"),
                "window": tc.window, "score": tc.score}  # fmt: skip

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Latency of scoring one test window at batch 1 and 64 (median and p95)."""
        from seqarena.profile import batch_latencies

        out = super().profile(model, run_dir, training)
        a, w = self.bounds["test"][0], self.cfg.task.window
        examples = list(self.windows["test"][:64, 1:]) or [self.x[a : a + w]]  # normal test windows, else any
        return {**out, **batch_latencies(model, examples, lambda xs: (torch.stack(xs),))}

    @classmethod
    def predict(cls, run: Any, inputs: Any, **options: Any) -> tuple[Any, str]:
        """Per-step scores and flags for a series file holding the run's value columns."""
        import pandas as pd

        if options:
            raise ConfigError(f"anomaly predict takes no {', '.join(options)} option")
        art = run.artifacts
        data = load_anomalies(str(inputs), art["columns"], run.config.task.label_column, need_labels=False)
        x = torch.tensor((data.values - np.array(art["mean"])) / np.array(art["std"]), dtype=torch.float32)
        scores = point_scores(run.model, x, 256, torch.device("cpu"))
        frame = pd.DataFrame({"step": np.arange(len(x)), "score": scores})
        frame["anomaly"] = frame["score"] > art["threshold"]
        frame = frame.dropna(subset=["score"]).reset_index(drop=True)  # a forecaster cannot score the first step
        flagged = int(frame["anomaly"].sum())
        return frame, f"scores for {len(frame)} steps ({flagged} above the threshold {art['threshold']:.4g})"


def _make(cfg: RunConfig, channels: int) -> AnomalyModel:
    tc = cfg.task
    return AnomalyModel(get_model(cfg.model.name)(cfg.model), channels, tc.window, tc.score, tc.bottleneck)


def _bounds(data: AnomalySet, split: list[float] | None) -> dict[str, tuple[int, int]]:
    n = len(data.values)
    if split is None and data.train_end is not None:  # the archive's normal prefix: its last fifth validates
        cut = data.train_end - data.train_end // 5
        return {"train": (0, cut), "val": (cut, data.train_end), "test": (data.train_end, n)}
    shares = split or DEFAULT_SHARES
    if len(shares) != 3 or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(f"task.split={shares} must be three shares (train, val, test) that sum to 1")
    a = int(n * shares[0])
    b = a + int(n * shares[1])
    return {"train": (0, a), "val": (a, b), "test": (b, n)}
