"""A forecaster around any backbone (embedding -> backbone -> head) or a whole-window forecaster, with RevIN
(each input window normalised by its own mean/std, restored on the output) around it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from seqarena.models.base import ForecastSpec, SequenceModel
from seqarena.registry import get_model
from seqarena.tasks import forecast_dist as dist


class ForecastModel(nn.Module):
    """x: (B, L, C_in [+ 1 gap] [+ K static]); with future-known columns, future: (B, H, F). Static values and the
    future ones enter after RevIN (a per-window normalisation would erase a constant): statics are added to the
    embedding, the future steps' values through a small per-step MLP added to the head's output."""

    def __init__(self, net: SequenceModel, spec: ForecastSpec, out_idx: list[int], head: str, revin: bool,
                 gaps: bool = False, distribution: str = "point", outputs: int = 1, n_future: int = 0,
                 n_static: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.net, self.spec, self.head_kind, self.revin, self.gaps = net, spec, head, revin, gaps
        self.distribution, self.outputs = distribution, outputs  # outputs per step and channel (forecast_dist)
        self.register_buffer("out_idx", torch.tensor(out_idx), persistent=False)
        self.all_out = out_idx == list(range(spec.channels))  # features M: no per-step gather of the targets
        cap = net.capabilities()
        self.is_forecaster, self.time_aware = cap.kind == "forecaster", cap.time_aware
        self.grad_checkpointing = False
        self.n_static = n_static  # static channels ride at the end of x; a parameter-free baseline ignores them
        self.uses_covariates = cap.trainable  # last_value, seasonal_naive, statistical: the past values alone
        n_out = len(out_idx)
        hidden = 32 if self.is_forecaster else net.cfg.d_model  # the covariate projections' width
        self.future_head = None
        if n_future and self.uses_covariates:
            self.future_head = nn.Sequential(nn.Linear(n_future, hidden), nn.GELU(), nn.Linear(hidden, n_out * outputs))
            nn.init.zeros_(self.future_head[2].weight), nn.init.zeros_(self.future_head[2].bias)  # starts neutral
        self.static_proj = None
        if n_static and self.uses_covariates:
            out = spec.horizon * n_out if self.is_forecaster else hidden  # forecasters: onto the forecast itself
            self.static_proj = nn.Linear(n_static, out)
            nn.init.zeros_(self.static_proj.weight), nn.init.zeros_(self.static_proj.bias)
        if not self.is_forecaster:
            d = net.cfg.d_model
            gap_feature = gaps and not self.time_aware  # other backbones see the gap as one more input feature
            self.embed = nn.Linear(spec.channels + gap_feature, d)
            width = d * spec.lookback if head == "flatten" else d
            self.head = nn.Linear(width, spec.horizon * n_out * outputs)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, L, C_in) -> (B, H, C_out), or (B, H, C_out, K) for a distribution; with gaps, x: (B, L, C_in + 1),
        # the last channel the time gaps; with statics, K more channels after those
        static = None
        if self.n_static:
            x, static = x[..., : -self.n_static], x[:, 0, -self.n_static :]  # (B, L, C), (B, K)
        dt = None
        if self.gaps:
            x, dt = x[..., :-1], x[..., -1]  # (B, L, C_in), (B, L)
        if self.revin:
            mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
            std = (x.var(dim=1, keepdim=True, unbiased=False) + 1e-5).sqrt()
            x = (x - mean) / std
        b, horizon = x.shape[0], self.spec.horizon
        if self.is_forecaster:
            y = self.net(x)[0]  # (B, H, C)
            y = y if self.all_out else y[..., self.out_idx]  # (B, H, C_out)
            if self.static_proj is not None:
                y = y + self.static_proj(static).view(b, horizon, -1)
            if self.future_head is not None:
                y = y + self.future_head(self._future(future))  # (B, H, C_out)
        else:
            extra = {}
            if dt is not None and self.time_aware:
                extra = {"dt": dt}
            elif dt is not None:
                x = torch.cat([x, dt.unsqueeze(-1)], dim=-1)  # (B, L, C_in + 1)
            h = self.embed(x)  # (B, L, D)
            if self.static_proj is not None:
                h = h + self.static_proj(static).unsqueeze(1)  # (B, L, D)
            if self.grad_checkpointing and self.training:
                h = checkpoint(lambda z: self.net(z, **extra)[0], h, use_reentrant=False)
            else:
                h = self.net(h, **extra)[0]  # (B, L, D)
            pooled = {"last": lambda: h[:, -1], "mean": lambda: h.mean(1), "flatten": lambda: h.flatten(1)}
            y = self.head(pooled[self.head_kind]()).view(b, horizon, -1, self.outputs)  # (B, H, C_out, K)
            if self.future_head is not None:
                y = y + self.future_head(self._future(future)).view(b, horizon, -1, self.outputs)
            if self.distribution != "point":
                y = dist.finish(y, self.distribution)
                if self.revin:  # (B, H, C_out, K)
                    std, mean = (std, mean) if self.all_out else (std[..., self.out_idx], mean[..., self.out_idx])
                    y = dist.restore(y, self.distribution, mean, std)
                return y
            y = y.squeeze(-1)  # (B, H, C_out)
        if self.revin:
            if not self.all_out:
                std, mean = std[..., self.out_idx], mean[..., self.out_idx]  # (B, 1, C_out)
            y = y * std + mean
        return y

    def _future(self, future: torch.Tensor | None) -> torch.Tensor:
        if future is None:
            raise ValueError("this forecaster reads future-known covariates: call it as model(x, future)")
        return future  # (B, H, F)


def make_model(cfg: Any, channels: int, out_idx: list[int], period: int, n_future: int = 0,
               n_static: int = 0) -> ForecastModel:  # fmt: skip
    """The forecaster of run config `cfg` for `channels` input columns, predicting columns `out_idx`, reading
    `n_future` future-known and `n_static` static covariates."""
    tc = cfg.task
    spec = ForecastSpec(tc.lookback, tc.horizon, channels, period)
    cls = get_model(cfg.model.name)
    net = cls(cfg.model, spec) if cls.kind == "forecaster" else cls(cfg.model)
    outputs = dist.n_outputs(tc.distribution, tc.quantiles)
    model = ForecastModel(net, spec, out_idx, tc.head, tc.revin, tc.gaps == "on", tc.distribution, outputs,
                          n_future, n_static)  # fmt: skip
    model.grad_checkpointing = cfg.train.grad_checkpointing
    return model
