"""TCN: residual blocks of two dilated causal convolutions (dilation 2^i in block i), optionally
depthwise-separable. Stepping keeps, for each convolution, the last (kernel - 1) * dilation inputs it saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class TCNConfig:
    name: str = "tcn"
    d_model: int = 64
    num_layers: int = 4  # residual blocks; the receptive field is 1 + 2 (kernel_size - 1)(2^num_layers - 1)
    kernel_size: int = 3
    dropout: float = 0.0
    separable: bool = False  # depthwise (per channel) then pointwise convolutions: fewer parameters
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class CausalConv(nn.Module):
    def __init__(self, width: int, kernel: int, dilation: int, separable: bool) -> None:
        super().__init__()
        self.context = (kernel - 1) * dilation  # past inputs this convolution needs
        groups = width if separable else 1
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation, groups=groups)
        self.point = nn.Conv1d(width, width, 1) if separable else nn.Identity()

    def forward(self, x: torch.Tensor, past: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, D, T); past: (B, D, context) or None (zeros)
        past = x.new_zeros(x.shape[0], x.shape[1], self.context) if past is None else past
        full = torch.cat([past, x], dim=2)  # (B, D, context + T)
        return self.point(self.conv(full)), full[:, :, full.shape[2] - self.context :]


@register_model("tcn")
class TCN(SequenceModel):
    Config = TCNConfig

    def __init__(self, cfg: TCNConfig) -> None:
        super().__init__()
        if cfg.kernel_size < 2 or cfg.num_layers < 1:
            raise ConfigError("model.kernel_size must be >= 2 and model.num_layers >= 1")
        self.cfg = cfg
        d, k, sep = cfg.d_model, cfg.kernel_size, cfg.separable
        self.convs = nn.ModuleList(CausalConv(d, k, 2 ** (i // 2), sep) for i in range(2 * cfg.num_layers))
        self.drop = nn.Dropout(cfg.dropout)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="convolution", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return tuple(torch.zeros(batch, self.cfg.d_model, c.context, device=device) for c in self.convs)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        h = x.transpose(1, 2)  # (B, D, T)
        new: list[torch.Tensor] = []
        for b in range(self.cfg.num_layers):
            first, second = self.convs[2 * b], self.convs[2 * b + 1]
            y, s1 = first(h, None if state is None else state[2 * b])
            y, s2 = second(self.drop(F.gelu(y)), None if state is None else state[2 * b + 1])
            h = h + self.drop(F.gelu(y))  # (B, D, T)
            new += [s1, s2]
        return h.transpose(1, 2), tuple(new)  # (B, T, D)
