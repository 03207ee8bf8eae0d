"""A Mamba-style selective state-space block (Gu & Dao, 2023), pure PyTorch: input-dependent step size and B/C,
a causal depthwise convolution, a gated output. The scan runs the recurrence s_t = exp(dt_t A) s_{t-1} +
dt_t B_t x_t over time with everything else vectorised; `step()` is the same recurrence, O(1) per token."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class MambaConfig:
    name: str = "mamba"
    d_model: int = 64
    num_layers: int = 2
    d_state: int = 16
    expand: int = 2  # inner width = expand * d_model
    d_conv: int = 4
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class SelectiveSSM(nn.Module):
    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        inner, n = cfg.expand * cfg.d_model, cfg.d_state
        self.inner, self.n, self.d_conv = inner, n, cfg.d_conv
        self.dt_rank = math.ceil(cfg.d_model / 16)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.in_proj = nn.Linear(cfg.d_model, 2 * inner)
        self.conv = nn.Conv1d(inner, inner, cfg.d_conv, groups=inner)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1).float()).repeat(inner, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def empty(self, batch: int, device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
        conv = torch.zeros(batch, self.inner, self.d_conv - 1, device=device)  # the last d_conv - 1 inputs
        return conv, torch.zeros(batch, self.inner, self.n, device=device)  # (B, E, N) SSM state

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        B, T, _ = x.shape
        conv_past, s = state if state is not None else self.empty(B, x.device)
        u, z = self.in_proj(self.norm(x)).chunk(2, dim=-1)  # (B, T, E) each
        full = torch.cat([conv_past, u.transpose(1, 2)], dim=2)  # (B, E, d_conv - 1 + T)
        u = F.silu(self.conv(full)).transpose(1, 2)  # (B, T, E)
        dt, Bm, Cm = self.x_proj(u).split([self.dt_rank, self.n, self.n], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (B, T, E)
        A = -torch.exp(self.A_log)  # (E, N)
        decay = torch.exp(dt.unsqueeze(-1) * A)  # (B, T, E, N)
        drive = (dt * u).unsqueeze(-1) * Bm.unsqueeze(2)  # (B, T, E, N)
        states = []
        for a_t, b_t in zip(decay.unbind(1), drive.unbind(1), strict=True):
            s = a_t * s + b_t  # (B, E, N)
            states.append(s)
        y = torch.einsum("bten,btn->bte", torch.stack(states, dim=1), Cm) + self.D * u  # (B, T, E)
        y = self.out_proj(y * F.silu(z))
        new_conv = full[:, :, full.shape[2] - (self.d_conv - 1) :]
        return x + self.drop(y), (new_conv, s)


@register_model("mamba")
class Mamba(SequenceModel):
    Config = MambaConfig

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(SelectiveSSM(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def capabilities(self) -> Capabilities:
        return Capabilities(family="state-space", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return tuple(t for block in self.blocks for t in block.empty(batch, device))

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        new: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x, (conv, s) = block(x, None if state is None else (state[2 * i], state[2 * i + 1]))
            new += [conv, s]
        return self.norm(x), tuple(new)  # (B, T, D)
