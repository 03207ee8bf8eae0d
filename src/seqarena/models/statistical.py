"""The pre-deep-learning baselines, through statsforecast (install seqarena[stats]): AutoETS, AutoTheta and
AutoARIMA, each fitted on every input window by itself (a local model: nothing is learnt across windows, nothing
is saved but the config), with the dataset's seasonal period unless model.season_length says otherwise.

Cost per window and channel on a 2-core CPU at lookback 96, season 24: Theta about 15 ms, ETS about 55 ms, ARIMA
about 3 s; an arena gives each the same windows as every other model, so ARIMA fits short test splits only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from seqarena.extras import need
from seqarena.models.base import Capabilities, ForecastSpec, SequenceModel, State
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model


class _Local(SequenceModel):
    """A statsforecast model fitted on each window and channel: (B, L, C) -> (B, H, C)."""

    kind = "forecaster"
    builder: ClassVar[str]  # the statsforecast.models class

    def __init__(self, cfg: Any, spec: ForecastSpec) -> None:
        super().__init__()
        self.cfg, self.horizon = cfg, spec.horizon
        self.season = cfg.season_length or spec.period
        models = need("statsforecast.models", "stats", f"model '{cfg.name}'")
        options = {"season_length": self.season} | self.options()
        self.local = getattr(models, self.builder)(**options)
        self.register_buffer("anchor", torch.zeros(0), persistent=False)  # moves with .to(device)

    def options(self) -> dict[str, Any]:
        return {}

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="statistical", kind="forecaster", trainable=False)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, None]:
        windows = x.detach().double().cpu().numpy()  # (B, L, C)
        out = np.empty((windows.shape[0], self.horizon, windows.shape[2]))
        for b in range(windows.shape[0]):
            for c in range(windows.shape[2]):
                out[b, :, c] = self._one(windows[b, :, c])
        return torch.from_numpy(out).to(x.dtype), None  # (B, H, C)

    def _one(self, y: np.ndarray) -> np.ndarray:
        if np.ptp(y) < 1e-9:  # a flat window: every method forecasts its value
            return np.full(self.horizon, y[-1])
        try:
            return self.local.forecast(y=y, h=self.horizon)["mean"]
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):  # a fit that fails on a short window
            return np.full(self.horizon, y[-1])


@dataclass(kw_only=True)
class AutoETSConfig:
    name: str = "auto_ets"
    season_length: int | None = opt(None, at_least(1))  # None: the dataset's seasonal period
    model: str = "ZZZ"  # error, trend, season: A(dditive), M(ultiplicative), N(one) or Z (chosen by AICc)


@register_model("auto_ets")
class AutoETS(_Local):
    """Exponential smoothing with the error, trend and season types chosen by AICc (Hyndman et al., 2008)."""

    Config = AutoETSConfig
    builder = "AutoETS"

    def options(self) -> dict[str, Any]:
        return {"model": self.cfg.model}


@dataclass(kw_only=True)
class AutoThetaConfig:
    name: str = "auto_theta"
    season_length: int | None = opt(None, at_least(1))


@register_model("auto_theta")
class AutoTheta(_Local):
    """The Theta method (Assimakopoulos & Nikolopoulos, 2000), its variant chosen by in-sample error."""

    Config = AutoThetaConfig
    builder = "AutoTheta"


@dataclass(kw_only=True)
class AutoARIMAConfig:
    name: str = "auto_arima"
    season_length: int | None = opt(None, at_least(1))


@register_model("auto_arima")
class AutoARIMA(_Local):
    """ARIMA with its orders chosen by a stepwise AICc search (Hyndman & Khandakar, 2008)."""

    Config = AutoARIMAConfig
    builder = "AutoARIMA"
