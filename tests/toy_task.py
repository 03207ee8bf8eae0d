"""A fifth task defined outside the package, as a user would write one: predict the mean of the first channel of
each generated random walk. test_task_contract.py registers it and runs it through train, evaluate, predict,
compare and the report without any change to seqarena (SEQARENA_PLUGINS=toy_task for the command line)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from seqarena import register_task
from seqarena.errors import DataError
from seqarena.profile import timed
from seqarena.registry import get_model
from seqarena.sizing import solve_width
from seqarena.tasks.base import COST, Column, Metric, Requires, Task

CHANNELS = 2


@dataclass(kw_only=True)
class ToyConfig:
    name: str = "toy_mean"
    data: str = "random-walks"
    n: int = 400  # sequences: 60% train, 20% val, 20% test
    length: int = 16
    seed: int = 0


class ToyModel(nn.Module):
    def __init__(self, net: nn.Module, channels: int) -> None:
        super().__init__()
        d = net.cfg.d_model
        self.embed, self.net, self.head = nn.Linear(channels, d), net, nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.net(self.embed(x))  # (B, T, D)
        return self.head(h.mean(1)).squeeze(-1)  # (B,)


MSE = Metric("mse", "test MSE")


@register_task("toy_mean")
class ToyTask(Task):
    Config = ToyConfig
    requires = Requires(kinds=("backbone",))
    metric = MSE
    quality = (MSE, Metric("mae", "test MAE"))
    columns = (Column("test MSE", "test_mse", 4, True), Column("test MAE", "test_mae", 4), *COST)
    references = {"mean_mse": "always predicting the training mean scores MSE {value:.4f} on the same sequences."}

    def __init__(self, cfg: Any, run_dir: Path | None = None) -> None:
        tc = cfg.task
        if tc.n < 10 or tc.length < 2:
            raise DataError("task.n must be >= 10 and task.length >= 2")
        g = torch.Generator().manual_seed(tc.seed)
        x = torch.randn(tc.n, tc.length, CHANNELS, generator=g).cumsum(1) / 4  # (N, T, C)
        y = x[..., 0].mean(1)  # (N,)
        a, b = int(0.6 * tc.n), int(0.8 * tc.n)
        self.x = {"train": x[:a], "val": x[a:b], "test": x[b:]}
        self.y = {"train": y[:a], "val": y[a:b], "test": y[b:]}
        self.notes, self.data_sha256 = [], None
        self.cfg = self.resolve(cfg)

    def resolve(self, cfg: Any) -> Any:
        self.check_model(get_model(cfg.model.name), cfg.model)
        return solve_width(cfg, self.build_model)

    def build_model(self, cfg: Any) -> ToyModel:
        return ToyModel(get_model(cfg.model.name)(cfg.model), CHANNELS)

    @classmethod
    def load_model(cls, cfg: Any, artifacts: dict[str, Any]) -> ToyModel:
        return ToyModel(get_model(cfg.model.name)(cfg.model), artifacts["channels"])

    def values_checksum(self) -> str:
        return hashlib.sha256(self.x["train"].numpy().tobytes()).hexdigest()

    def n_train(self) -> int:
        return len(self.x["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(self.n_train(), generator=generator)
        for i in range(0, len(order), batch_size):
            take = order[i : i + batch_size]
            yield self.x["train"][take], self.y["train"][take]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x), y)

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        pred = torch.cat([model(x) for x in self.x[split].split(batch_size)])
        model.train(was_training)
        err, y = pred - self.y[split], self.y[split]
        return {
            "loss": float((err**2).mean()),
            "mse": float((err**2).mean()),
            "mae": float(err.abs().mean()),
            "mean_mse": float(((y - self.y["train"].mean()) ** 2).mean()),
        }

    def artifacts(self) -> dict[str, Any]:
        return {"channels": CHANNELS, "length": self.cfg.task.length}

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        out = super().profile(model, run_dir, training)
        x = self.x["test"][:1]
        with torch.inference_mode():
            out["latency_b1_ms"] = timed(lambda: model.eval()(x), 10)["median_ms"]
        return out

    @classmethod
    def predict(cls, run: Any, inputs: Path) -> tuple[pd.DataFrame, str]:
        """inputs: a CSV with columns id, c0, c1 (one row per step); one predicted mean per id."""
        frame = pd.read_csv(inputs)
        ids = list(dict.fromkeys(frame["id"]))
        x = torch.stack([torch.tensor(frame[frame["id"] == i][["c0", "c1"]].values, dtype=torch.float32) for i in ids])
        with torch.inference_mode():
            pred = run.model(x)
        return pd.DataFrame({"id": ids, "mean": pred.numpy()}), f"means of {len(ids)} sequences"
