"""Parameter-free forecasting baselines that every comparison needs: last value and seasonal naive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, ForecastSpec, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class LastValueConfig:
    name: str = "last_value"


@register_model("last_value")
class LastValue(SequenceModel):
    """Repeat the last observed value over the whole horizon."""

    Config = LastValueConfig
    kind = "forecaster"

    def __init__(self, cfg: LastValueConfig, spec: ForecastSpec) -> None:
        super().__init__()
        self.cfg, self.horizon = cfg, spec.horizon

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="baseline", kind="forecaster", trainable=False)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, None]:
        return x[:, -1:].expand(-1, self.horizon, -1), None  # (B, H, C)


@dataclass(kw_only=True)
class SeasonalNaiveConfig:
    name: str = "seasonal_naive"
    period: int | None = None  # None: the dataset's seasonal period


@register_model("seasonal_naive")
class SeasonalNaive(SequenceModel):
    """Repeat the last full season: y[t + h] = y[t + h - period * k] for the smallest k >= 1 that is observed."""

    Config = SeasonalNaiveConfig
    kind = "forecaster"

    def __init__(self, cfg: SeasonalNaiveConfig, spec: ForecastSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.period = cfg.period or spec.period
        if not 1 <= self.period <= spec.lookback:
            raise ConfigError(
                f"seasonal_naive needs 1 <= period ({self.period}) <= task.lookback ({spec.lookback}); "
                f"set model.period or a longer task.lookback"
            )
        steps = torch.arange(spec.horizon)
        self.register_buffer("index", spec.lookback - self.period + steps % self.period, persistent=False)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="baseline", kind="forecaster", trainable=False)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, None]:
        return x[:, self.index], None  # (B, H, C)
