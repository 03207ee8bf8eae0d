"""A Mamba-style selective state-space block (Gu & Dao, 2023), pure PyTorch: input-dependent step size and B/C,
a causal depthwise convolution, a gated output. The recurrence s_t = exp(dt_t A) s_{t-1} + dt_t B_t x_t runs as a
scan over the whole window for training, sequential or chunked (`chunked_scan`: L + C Python steps instead of T),
and one step at a time for `step()`, O(1) per token."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.models.kernels import causal_conv, native, selective_scan
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class MambaConfig:
    name: str = "mamba"
    d_model: int = 64
    num_layers: int = 2
    d_state: int = 16
    expand: int = opt(2, at_least(1))  # inner width = expand * d_model
    d_conv: int = opt(4, at_least(1))
    # auto: the C++ scan and causal convolution (models/kernels) for float32 on the CPU when they are built, else
    # sequential there; chunked on CUDA. sequential and chunked are the PyTorch scans (with nn.Conv1d).
    scan: Literal["auto", "native", "sequential", "chunked"] = "auto"
    scan_chunk: int = opt(32, at_least(1))  # steps per chunk of the chunked scan
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


def sequential_scan(log_decay: torch.Tensor, drive: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """All states of s_t = exp(log_decay_t) * s_{t-1} + drive_t, one step at a time: (B, T, E, N) -> (B, T, E, N)."""
    s, states = s0, []
    for a_t, b_t in zip(log_decay.exp().unbind(1), drive.unbind(1), strict=True):  # (B, E, N) each
        s = a_t * s + b_t
        states.append(s)
    return torch.stack(states, dim=1)


def chunked_scan(log_decay: torch.Tensor, drive: torch.Tensor, s0: torch.Tensor, chunk: int) -> torch.Tensor:
    """All states of s_t = exp(log_decay_t) * s_{t-1} + drive_t, chunked: (B, T, E, N) x2, s0 (B, E, N) -> (B, T, E, N).

    The sequence is cut into C chunks of L steps. One loop of L steps runs every chunk at once from a zero state;
    one loop of C steps then carries each chunk's final state into the next; one vectorised op adds the carried
    state, decayed by the cumulative decay within the chunk (exp of a cumulative sum of log-decays <= 0, so it
    cannot overflow). That is L + C Python steps instead of T, on C-times larger tensors, for about twice the work."""
    B, T, E, N = drive.shape
    L = max(1, min(chunk, T))
    pad = (-T) % L
    if pad:  # identity steps at the end: decay 1, drive 0
        log_decay = torch.cat([log_decay, log_decay.new_zeros(B, pad, E, N)], dim=1)
        drive = torch.cat([drive, drive.new_zeros(B, pad, E, N)], dim=1)
    C = (T + pad) // L
    log_a = log_decay.reshape(B, C, L, E, N).permute(2, 0, 1, 3, 4).contiguous()  # (L, B, C, E, N)
    b = drive.reshape(B, C, L, E, N).permute(2, 0, 1, 3, 4).contiguous()
    s, local = drive.new_zeros(B, C, E, N), []
    for a_l, b_l in zip(log_a.exp().unbind(0), b.unbind(0), strict=True):  # (B, C, E, N): every chunk, zero start
        s = a_l * s + b_l
        local.append(s)
    states = torch.stack(local)  # (L, B, C, E, N)
    cum = log_a.cumsum(dim=0).exp()  # (L, B, C, E, N): the decay from each chunk's start through step l
    carry, carried = s0, []
    for end, decay in zip(states[-1].unbind(1), cum[-1].unbind(1), strict=True):  # (B, E, N) each
        carried.append(carry)  # the state entering this chunk
        carry = end + decay * carry
    states = (states + cum * torch.stack(carried, dim=1)).permute(1, 2, 0, 3, 4)  # (B, C, L, E, N)
    return states.reshape(B, C * L, E, N)[:, :T]


class SelectiveSSM(nn.Module):
    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        inner, n = cfg.expand * cfg.d_model, cfg.d_state
        self.inner, self.n, self.d_conv, self.scan, self.chunk = inner, n, cfg.d_conv, cfg.scan, cfg.scan_chunk
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
        if self.scan in ("auto", "native") and native.usable("causal_conv", u):
            full = torch.cat([conv_past.transpose(1, 2), u], dim=1)  # (B, d_conv - 1 + T, E)
            u = causal_conv.conv_silu(full, self.conv.weight, self.conv.bias)  # (B, T, E)
            new_conv = full[:, T:].transpose(1, 2).contiguous()  # (B, E, d_conv - 1): the last inputs
        else:
            full = torch.cat([conv_past, u.transpose(1, 2)], dim=2)  # (B, E, d_conv - 1 + T)
            u = F.silu(self.conv(full)).transpose(1, 2)  # (B, T, E)
            new_conv = full[:, :, full.shape[2] - (self.d_conv - 1) :]
        dt, Bm, Cm = self.x_proj(u).split([self.dt_rank, self.n, self.n], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (B, T, E)
        A = -torch.exp(self.A_log)  # (E, N)
        if self.scan in ("auto", "native") and native.usable("selective_scan", u):
            y, s = selective_scan.selective_scan(dt, u, A, Bm, Cm, s)  # (B, T, E), (B, E, N): no (B, T, E, N)
        else:
            log_decay = dt.unsqueeze(-1) * A  # (B, T, E, N), <= 0
            drive = (dt * u).unsqueeze(-1) * Bm.unsqueeze(2)  # (B, T, E, N)
            chunked = self.scan == "chunked" or (self.scan == "auto" and x.device.type == "cuda")
            if chunked and T > 1:
                states = chunked_scan(log_decay, drive, s, self.chunk)  # (B, T, E, N)
            else:
                states = sequential_scan(log_decay, drive, s)
            s = states[:, -1]
            y = torch.einsum("bten,btn->bte", states, Cm)  # (B, T, E)
        y = self.out_proj((y + self.D * u) * F.silu(z))
        return x + self.drop(y), (new_conv, s)


@register_model("mamba")
class Mamba(SequenceModel):
    Config = MambaConfig
    onnx_variable_length = False  # the sequential scan is a Python loop over time steps

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(SelectiveSSM(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="state-space", causal=True, stateful=True, streaming=True)

    def describe_kernel(self, device: torch.device) -> str:
        """Which scan training on `device` uses (run.json records it)."""
        scan = self.cfg.scan
        if scan in ("auto", "native") and device.type == "cpu":
            scan_kernel = native.describe("selective_scan", "seqarena C++ scan", "sequential scan")
            return f"{scan_kernel}, {native.describe('causal_conv', 'C++ convolution', 'nn.Conv1d')}"
        return "chunked scan" if scan == "chunked" or (scan == "auto" and device.type == "cuda") else "sequential scan"

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return tuple(t for block in self.blocks for t in block.empty(batch, device))

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        new: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x, (conv, s) = block(x, None if state is None else (state[2 * i], state[2 * i + 1]))
            new += [conv, s]
        return self.norm(x), tuple(new)  # (B, T, D)
