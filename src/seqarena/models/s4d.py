"""S4D (Gu et al., 2022): a diagonal state-space layer per channel, pure PyTorch. Training computes its
convolution kernel K[l] = 2 Re(C diag(Ab)^l Bb) and applies it with an FFT; stepping runs the recurrence
s_t = Ab s_{t-1} + Bb u_t, y_t = 2 Re(C s_t) + D u_t. Both agree (a contract test), also when a chunk
continues from a state."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class S4DConfig:
    name: str = "s4d"
    d_model: int = 64
    num_layers: int = 2
    d_state: int = 64  # state size N per channel (N/2 complex modes)
    dropout: float = 0.0
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class S4DKernel(nn.Module):
    """One diagonal SSM per channel with S4D-Lin initialisation: A_n = -1/2 + i pi n."""

    def __init__(self, width: int, d_state: int, dt_min: float, dt_max: float) -> None:
        super().__init__()
        modes = d_state // 2
        log_dt = torch.rand(width) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)  # (H,)
        self.log_neg_re = nn.Parameter(torch.log(0.5 * torch.ones(width, modes)))  # Re(A) = -exp(.)
        self.im = nn.Parameter(math.pi * torch.arange(modes).float().repeat(width, 1))  # (H, N/2)
        self.c = nn.Parameter(torch.randn(width, modes, 2) * (0.5**0.5))  # complex C as (re, im)
        self.d = nn.Parameter(torch.randn(width))

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dtA, Bb, C) as complex (H, N/2): Ab = exp(dtA), Bb = (exp(dtA) - 1) / A (zero-order hold, B = 1)."""
        A = torch.complex(-torch.exp(self.log_neg_re), self.im)
        dtA = A * torch.exp(self.log_dt)[:, None]
        return dtA, (torch.exp(dtA) - 1.0) / A, torch.view_as_complex(self.c)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # u: (B, H, T); state: (B, H, N/2) complex or None
        T = u.shape[-1]
        dtA, Bb, C = self.discrete()
        steps = torch.arange(T, device=u.device, dtype=u.dtype)
        powers = torch.exp(dtA[:, :, None] * steps)  # (H, N/2, T): Ab^l
        kernel = 2 * torch.einsum("hn,hnl->hl", C * Bb, powers).real  # (H, T)
        n = 2 * T
        y = torch.fft.irfft(torch.fft.rfft(u, n) * torch.fft.rfft(kernel, n), n)[..., :T]  # (B, H, T)
        y = y + self.d[:, None] * u
        # the state after the chunk: s_T = Ab^T s_0 + sum_j Ab^(T-1-j) Bb u_j
        rev = torch.flip(powers, dims=[-1])  # (H, N/2, T): Ab^(T-1-j)
        new = torch.einsum("hnl,bhl->bhn", rev, u.to(rev.dtype)) * Bb  # (B, H, N/2), no (H, N/2, T) temporary
        if state is not None:
            carry = torch.exp(dtA[:, :, None] * (steps + 1))  # (H, N/2, T): Ab^(t+1)
            y = y + 2 * torch.einsum("hn,hnl,bhn->bhl", C, carry, state).real
            new = new + torch.exp(dtA * T) * state
        return y, new


class S4DBlock(nn.Module):
    def __init__(self, cfg: S4DConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.ssm = S4DKernel(cfg.d_model, cfg.d_state, cfg.dt_min, cfg.dt_max)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        y, new = self.ssm(self.norm(x).transpose(1, 2), state)  # (B, H, T)
        return x + self.drop(self.out(F.gelu(y.transpose(1, 2)))), new  # (B, T, D)


@register_model("s4d")
class S4D(SequenceModel):
    Config = S4DConfig

    def __init__(self, cfg: S4DConfig) -> None:
        super().__init__()
        if cfg.d_state < 2 or cfg.d_state % 2:
            raise ConfigError(f"model.d_state={cfg.d_state} must be even and >= 2 (complex-conjugate pairs)")
        self.cfg = cfg
        self.blocks = nn.ModuleList(S4DBlock(cfg) for _ in range(cfg.num_layers))

    def capabilities(self) -> Capabilities:
        return Capabilities(family="state-space", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        zeros = torch.zeros(batch, self.cfg.d_model, self.cfg.d_state // 2, 2, device=device)  # complex as (re, im)
        return tuple(zeros.clone() for _ in self.blocks)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        new = []
        for i, block in enumerate(self.blocks):
            s = None if state is None else torch.view_as_complex(state[i].contiguous())
            x, s_new = block(x, s)
            new.append(torch.view_as_real(s_new).contiguous())
        return x, tuple(new)
