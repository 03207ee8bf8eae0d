"""A tapered residual recurrent stack with width adapters: layer i has round(d_model * taper^i) units, and where
the width changes, a 1x1 convolution (a per-step linear map) carries the residual path to the new width, as the
projection shortcuts of a ResNet do; a last 1x1 convolution maps the top layer back to d_model. Narrower upper
layers give a deep stack for fewer parameters and less compute per step, the articles' suggestion for
compute-limited devices. Each layer is a fused kernel (nn.LSTM, nn.GRU, nn.RNN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.ranges import Range, at_least, opt
from seqarena.registry import register_model

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass(kw_only=True)
class TaperedConfig:
    name: str = "tapered"
    d_model: int = 64  # the input and output width, and the first layer's units
    num_layers: int = opt(3, at_least(1))
    taper: float = opt(0.5, Range(0, 1, lo_open=True))  # each layer's width relative to the one below
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    dropout: float = 0.0  # on each layer's output before it joins the residual path
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


def widths(cfg: TaperedConfig) -> list[int]:
    return [max(1, round(cfg.d_model * cfg.taper**i)) for i in range(cfg.num_layers)]


class Conv1x1(nn.Conv1d):
    """A width adapter: (B, T, C_in) -> (B, T, C_out) by a kernel-size-1 convolution over time."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


@register_model("tapered")
class Tapered(SequenceModel):
    Config = TaperedConfig

    def __init__(self, cfg: TaperedConfig) -> None:
        super().__init__()
        if cfg.d_model < 1 or cfg.num_layers < 1 or not 0 < cfg.taper <= 1:
            raise ConfigError("model.d_model and model.num_layers must be >= 1, model.taper in (0, 1]")
        self.cfg, self.widths = cfg, widths(cfg)
        below = [cfg.d_model, *self.widths[:-1]]
        kernel = CELLS[cfg.cell]
        self.layers = nn.ModuleList(kernel(a, b, batch_first=True) for a, b in zip(below, self.widths, strict=True))
        self.adapters = nn.ModuleList(
            Conv1x1(a, b) if a != b else nn.Identity() for a, b in zip(below, self.widths, strict=True)
        )
        self.out = Conv1x1(self.widths[-1], cfg.d_model) if self.widths[-1] != cfg.d_model else nn.Identity()
        self.drop = nn.Dropout(cfg.dropout)
        self.per_layer = 2 if cfg.cell == "lstm" else 1  # state tensors per layer: (h, c) or h

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="recurrent", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return tuple(torch.zeros(1, batch, w, device=device) for w in self.widths for _ in range(self.per_layer))

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        # x: (B, T, D) -> (B, T, D); layer i runs at width widths[i]
        state = state if state is not None else self.init_state(x.shape[0], x.device)
        k, new = self.per_layer, []
        for i, (layer, adapter) in enumerate(zip(self.layers, self.adapters, strict=True)):
            hx = state[k * i] if k == 1 else (state[k * i], state[k * i + 1])
            y, h = layer(x, hx)  # (B, T, W_i)
            x = adapter(x) + self.drop(y)  # the residual path carried to the new width by a 1x1 convolution
            new.extend(h if k == 2 else (h,))
        return self.out(x), tuple(new)
