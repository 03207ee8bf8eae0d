"""A depthwise-separable recurrent layer, the compute-limited pick: the recurrence is depthwise (every channel
keeps its own state, with no hidden-to-hidden matrix) and all mixing between channels is pointwise (1x1 maps
before and after). It is a minimal GRU in the sense of Feng et al. (2024), "Were RNNs all we needed?":

    candidate c_t, rate d_t = split(W_in x_t)             pointwise, every step at once
    a_t = exp(-softplus(d_t))                             per-channel retention in (0, 1)
    h_t = a_t * h_{t-1} + (1 - a_t) * c_t                 depthwise recurrence, linear in h
    y_t = x_t + W_out h_t                                 pointwise, residual; pre-norm on x

Because the recurrence is linear and diagonal it runs as one scan over the window (the C++ selective scan of
models/kernels on the CPU, with a one-dimensional state per channel; the PyTorch scans elsewhere): a layer costs
3 D^2 parameters against an LSTM's 8 D^2, and no D x D matmul waits on the previous step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.models.kernels import native, selective_scan
from seqarena.models.mamba import sequential_scan
from seqarena.registry import register_model


@dataclass(kw_only=True)
class SeparableRNNConfig:
    name: str = "separable_rnn"
    d_model: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class SeparableLayer(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.pointwise_in = nn.Linear(width, 2 * width)  # candidate and retention rate per channel (a 1x1 map)
        self.pointwise_out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, D); h: (B, D) the state before the window
        cand, rate = self.pointwise_in(self.norm(x)).chunk(2, dim=-1)  # (B, T, D) each
        dt = F.softplus(rate)  # (B, T, D) > 0: a_t = exp(-dt)
        if native.usable("selective_scan", x):  # s_t = exp(-dt) s + dt * u with u = (1 - exp(-dt)) / dt * cand
            u = -torch.expm1(-dt) / dt * cand
            ones = x.new_ones(x.shape[0], x.shape[1], 1)  # (B, T, 1): a state of one per channel, read as is
            a = -x.new_ones(x.shape[2], 1)  # (D, 1)
            states, s = selective_scan.selective_scan(dt, u, a, ones, ones, h.unsqueeze(-1))  # (B, T, D), (B, D, 1)
            h = s.squeeze(-1)
        else:
            log_decay = (-dt).unsqueeze(-1)  # (B, T, D, 1)
            drive = (-torch.expm1(-dt) * cand).unsqueeze(-1)
            states = sequential_scan(log_decay, drive, h.unsqueeze(-1)).squeeze(-1)  # (B, T, D)
            h = states[:, -1]
        return x + self.drop(self.pointwise_out(states)), h


@register_model("separable_rnn")
class SeparableRNN(SequenceModel):
    Config = SeparableRNNConfig
    onnx_exporter = "torchscript"
    onnx_variable_length = False  # the PyTorch scan (what export traces) is a Python loop over time steps

    def __init__(self, cfg: SeparableRNNConfig) -> None:
        super().__init__()
        if cfg.d_model < 1 or cfg.num_layers < 1:
            raise ConfigError("model.d_model and model.num_layers must be >= 1")
        self.cfg = cfg
        self.layers = nn.ModuleList(SeparableLayer(cfg.d_model, cfg.dropout) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="recurrent", causal=True, stateful=True, streaming=True)

    def describe_kernel(self, device: torch.device) -> str:
        """Which scan training on `device` uses (run.json records it)."""
        if device.type != "cpu":
            return "sequential scan"
        return native.describe("selective_scan", "seqarena C++ scan", "sequential scan")

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return (torch.zeros(self.cfg.num_layers, batch, self.cfg.d_model, device=device),)  # (L, B, D)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        (h0,) = state if state is not None else self.init_state(x.shape[0], x.device)
        hs = []
        for layer, h in zip(self.layers, h0.unbind(0), strict=True):
            x, h = layer(x, h)  # (B, T, D), (B, D)
            hs.append(h)
        return self.norm(x), (torch.stack(hs),)
