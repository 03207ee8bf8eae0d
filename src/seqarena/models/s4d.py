"""S4D (Gu et al., 2022): a diagonal state-space layer per channel, pure PyTorch. Training computes its
convolution kernel K[l] = 2 Re(C diag(Ab)^l Bb) and applies it with an FFT; stepping runs the recurrence
s_t = Ab s_{t-1} + Bb u_t, y_t = 2 Re(C s_t) + D u_t. Both agree (a contract test), also when a chunk
continues from a state."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State, tracing
from seqarena.ranges import POSITIVE, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class S4DConfig:
    name: str = "s4d"
    d_model: int = 64
    num_layers: int = 2
    d_state: int = 64  # state size N per channel (N/2 complex modes)
    dropout: float = 0.0
    dt_min: float = opt(1e-3, POSITIVE)
    dt_max: float = opt(1e-1, POSITIVE)
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


def _cexp(z: torch.Tensor) -> torch.Tensor:
    """exp of a complex tensor from real exp, cos and sin: several times faster than torch.exp on the CPU."""
    return torch.polar(torch.exp(z.real), z.imag)


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
        return dtA, (_cexp(dtA) - 1.0) / A, torch.view_as_complex(self.c)

    def forward(self, u: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # u: (B, H, T); state: (B, H, N/2) complex or None
        B, H, T = u.shape
        dtA, Bb, C = self.discrete()
        # Ab^l for l = a*S + b as hi[a] * lo[b]: two (H, N/2, sqrt T) tables instead of an (H, N/2, T) one,
        # so the complex exponentials (slow on the CPU) and the memory are O(sqrt T) per mode.
        S = math.isqrt(T - 1) + 1  # ceil(sqrt T); 1 for T = 1
        R = -(-T // S)
        lo = _cexp(dtA[:, :, None] * torch.arange(S, device=u.device, dtype=u.dtype))  # (H, N/2, S)
        hi = _cexp(dtA[:, :, None] * (S * torch.arange(R, device=u.device, dtype=u.dtype)))  # (H, N/2, R)
        kernel = torch.bmm(((C * Bb)[:, :, None] * hi).transpose(1, 2), lo)  # (H, R, S)
        kernel = 2 * kernel.real.reshape(H, R * S)[:, :T]  # (H, T): K[l] = 2 Re(C Ab^l Bb)
        n = 2 * T
        y = torch.fft.irfft(torch.fft.rfft(u, n) * torch.fft.rfft(kernel, n), n)[..., :T]  # (B, H, T)
        y = y + self.d[:, None] * u
        # the state after the chunk: s_T = Ab^T s_0 + Bb sum_j Ab^j u_(T-1-j)
        rev = F.pad(torch.flip(u, dims=[-1]), (0, R * S - T)).reshape(B, H, R, S).to(lo.dtype)  # (B, H, R, S)
        partial = torch.einsum("hmb,zhab->zhma", lo, rev)  # (B, H, N/2, R)
        new = (partial * hi).sum(-1) * Bb  # (B, H, N/2)
        if state is not None:
            w = C * _cexp(dtA) * state  # (B, H, N/2): C Ab s_0
            carry = torch.einsum("zhm,hma,hmb->zhab", w, hi, lo).reshape(B, H, R * S)[..., :T]  # sum_m w Ab^t
            y = y + 2 * carry.real
            new = new + _cexp(dtA * T) * state
        return y, new

    def forward_real(self, u: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` without complex tensors (for ONNX): u (B, H, T), state (B, H, N/2, 2) as (re, im) or None."""
        T = u.shape[-1]
        dt = torch.exp(self.log_dt)[:, None]  # (H, 1)
        a_re, a_im = -torch.exp(self.log_neg_re), self.im  # (H, N/2): A
        r, w = a_re * dt, a_im * dt  # dtA = r + i w
        e_re, e_im = torch.exp(r) * torch.cos(w) - 1.0, torch.exp(r) * torch.sin(w)  # exp(dtA) - 1
        norm = a_re * a_re + a_im * a_im
        b_re, b_im = (e_re * a_re + e_im * a_im) / norm, (e_im * a_re - e_re * a_im) / norm  # Bb = (e^dtA - 1) / A
        c_re, c_im = self.c[..., 0], self.c[..., 1]
        cb_re, cb_im = c_re * b_re - c_im * b_im, c_re * b_im + c_im * b_re  # C Bb
        steps = torch.arange(T, device=u.device, dtype=u.dtype)  # (T,)
        mag = torch.exp(r[..., None] * steps)  # (H, N/2, T): |Ab^l|
        p_re, p_im = mag * torch.cos(w[..., None] * steps), mag * torch.sin(w[..., None] * steps)  # Ab^l
        kernel = 2 * (cb_re[..., None] * p_re - cb_im[..., None] * p_im).sum(1)  # (H, T)
        lag = steps[:, None] - steps[None, :]  # (T, T): t - s
        toeplitz = kernel[:, lag.clamp_min(0).long()] * (lag >= 0)  # (H, T, T): K[t - s] for s <= t
        y = torch.einsum("hts,bhs->bht", toeplitz, u) + self.d[:, None] * u  # (B, H, T)
        rev = torch.flip(u, dims=[-1])  # (B, H, T): u_(T-1-j)
        s_re, s_im = torch.einsum("hmt,bht->bhm", p_re, rev), torch.einsum("hmt,bht->bhm", p_im, rev)
        new_re, new_im = s_re * b_re - s_im * b_im, s_re * b_im + s_im * b_re  # (B, H, N/2)
        if state is not None:
            z_re, z_im = state[..., 0], state[..., 1]  # (B, H, N/2)
            ab_re, ab_im = e_re + 1.0, e_im  # Ab
            q_re, q_im = c_re * ab_re - c_im * ab_im, c_re * ab_im + c_im * ab_re  # C Ab
            v_re, v_im = q_re * z_re - q_im * z_im, q_re * z_im + q_im * z_re  # C Ab s_0
            y = y + 2 * (torch.einsum("bhm,hmt->bht", v_re, p_re) - torch.einsum("bhm,hmt->bht", v_im, p_im))
            magT = torch.exp(r * T)  # (H, N/2): Ab^T
            t_re, t_im = magT * torch.cos(w * T), magT * torch.sin(w * T)
            new_re = new_re + t_re * z_re - t_im * z_im
            new_im = new_im + t_re * z_im + t_im * z_re
        return y, torch.stack([new_re, new_im], dim=-1)


class S4DBlock(nn.Module):
    def __init__(self, cfg: S4DConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.ssm = S4DKernel(cfg.d_model, cfg.d_state, cfg.dt_min, cfg.dt_max)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None, real: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        run = self.ssm.forward_real if real else self.ssm
        y, new = run(self.norm(x).transpose(1, 2), state)  # (B, H, T)
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

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="state-space", causal=True, stateful=True, streaming=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        zeros = torch.zeros(batch, self.cfg.d_model, self.cfg.d_state // 2, 2, device=device)  # complex as (re, im)
        return tuple(zeros.clone() for _ in self.blocks)

    def forward(self, x: torch.Tensor, state: State | None = None, real: bool = False) -> tuple[torch.Tensor, State]:
        if real or tracing():  # ONNX: no complex tensors
            out = []
            for i, block in enumerate(self.blocks):
                x, s_new = block(x, None if state is None else state[i], real=True)
                out.append(s_new)
            return x, tuple(out)
        new = []
        for i, block in enumerate(self.blocks):
            s = None if state is None else torch.view_as_complex(state[i].contiguous())
            x, s_new = block(x, s)
            new.append(torch.view_as_real(s_new).contiguous())
        return x, tuple(new)
