"""DLinear: split the lookback window into a moving-average trend and a remainder, map each to the horizon with
one linear layer over time, shared across channels (Zeng et al., 2023)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.models.base import Capabilities, ForecastSpec, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class LinearConfig:
    name: str = "linear"
    kernel_size: int = 25  # moving-average window of the trend; 1 or decompose=false: one plain linear map
    decompose: bool = True
    individual: bool = False  # one linear map per channel instead of one shared map


class _TimeLinear(nn.Module):
    """(B, L, C) -> (B, H, C): a linear map over time, shared or per channel."""

    def __init__(self, lookback: int, horizon: int, channels: int, individual: bool) -> None:
        super().__init__()
        shape = (channels, horizon, lookback) if individual else (1, horizon, lookback)
        self.weight = nn.Parameter(torch.full(shape, 1.0 / lookback))
        self.bias = nn.Parameter(torch.zeros(shape[0], horizon))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L, C) -> (B, H, C)
        return torch.einsum("chl,blc->bhc", self.weight, x) + self.bias.T


@register_model("linear")
class DLinear(SequenceModel):
    Config = LinearConfig
    kind = "forecaster"

    def __init__(self, cfg: LinearConfig, spec: ForecastSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.kernel = min(cfg.kernel_size, spec.lookback) if cfg.decompose else 1
        self.seasonal = _TimeLinear(spec.lookback, spec.horizon, spec.channels, cfg.individual)
        self.trend = (
            _TimeLinear(spec.lookback, spec.horizon, spec.channels, cfg.individual) if self.kernel > 1 else None
        )

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="linear", kind="forecaster", causal=True)

    def _moving_average(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L, C); replicate-pad both ends so the trend has length L
        k = self.kernel
        padded = torch.cat([x[:, :1].expand(-1, (k - 1) // 2, -1), x, x[:, -1:].expand(-1, k // 2, -1)], dim=1)
        return F.avg_pool1d(padded.transpose(1, 2), k, stride=1).transpose(1, 2)  # (B, L, C)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, None]:
        if self.trend is None:
            return self.seasonal(x), None
        trend = self._moving_average(x)
        return self.seasonal(x - trend) + self.trend(trend), None  # (B, H, C)
