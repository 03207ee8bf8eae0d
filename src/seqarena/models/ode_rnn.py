"""ODE-RNN (Rubanova et al., 2019): a GRU whose hidden state evolves continuously between observations. Before
each step the state follows dh/dt = f(h), a small MLP, for the time gap since the previous step, solved by
torchdiffeq (`pip install 'seqarena[ode]'`); then a GRU update reads the observation.

A batch holds a different gap per row, so each step solves on a unit interval with the rescaled dynamics
dh/ds = dt * f(h), s in [0, 1]: one solver call for the whole batch, and a zero gap leaves the state unchanged.
Fixed-step solvers (euler, midpoint, rk4: `ode_steps` steps per gap) cost the same for every step; dopri5 adapts
its steps to `tolerance`. The input projection of every step is one matmul before the time loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.extras import need
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.models.grud import gru_update
from seqarena.ranges import POSITIVE, at_least, opt
from seqarena.registry import register_model

FIXED = ("euler", "midpoint", "rk4")


@dataclass(kw_only=True)
class ODERNNConfig:
    name: str = "ode_rnn"
    d_model: int = 64
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers
    solver: Literal["euler", "midpoint", "rk4", "dopri5"] = "rk4"
    ode_steps: int = opt(1, at_least(1))  # fixed-step solvers: steps per gap
    tolerance: float = opt(1e-3, POSITIVE)  # dopri5: relative and absolute tolerance
    ode_hidden: int | None = None  # the width of f's hidden layer (None: d_model)
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class Dynamics(nn.Module):
    """dh/ds = dt * f(h) on s in [0, 1], for a batch of gaps dt (B, 1)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, width))
        nn.init.normal_(self.f[2].weight, std=0.01)  # starts close to the identity flow: nearly the GRU alone
        nn.init.zeros_(self.f[2].bias)
        self.dt = torch.ones(1, 1)

    def forward(self, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.dt * self.f(h)  # (B, H)


class ODERNNLayer(nn.Module):
    def __init__(self, width: int, cfg: ODERNNConfig) -> None:
        super().__init__()
        self.hidden, self.cfg = width, cfg
        self.w_x = nn.Linear(width, 3 * width)  # gates r, z, n from the input
        self.w_h = nn.Linear(width, 3 * width)  # ... and from the evolved hidden state
        for g in range(3):
            nn.init.orthogonal_(self.w_h.weight.data[g * width : (g + 1) * width])
        self.dynamics = Dynamics(width, cfg.ode_hidden or width)

    def evolve(self, h: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        """h (B, H) after the gaps dt (B,)."""
        odeint = need("torchdiffeq", "ode", "ODE-RNN (torchdiffeq)").odeint
        c = self.cfg
        self.dynamics.dt = dt.unsqueeze(-1)  # (B, 1)
        span = torch.tensor([0.0, 1.0], dtype=h.dtype, device=h.device)
        if c.solver in FIXED:
            out = odeint(self.dynamics, h, span, method=c.solver, options={"step_size": 1.0 / c.ode_steps})
        else:
            out = odeint(self.dynamics, h, span, method=c.solver, rtol=c.tolerance, atol=c.tolerance)
        return out[-1]

    def forward(self, x: torch.Tensor, h: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, H); h: (B, H); dt: (B, T) the gap before each step
        gi = self.w_x(x)  # (B, T, 3H): every step's input projection in one matmul
        w_h, b_h = self.w_h.weight.t(), self.w_h.bias  # (H, 3H), (3H,)
        outs = []
        for gi_t, dt_t in zip(gi.unbind(1), dt.unbind(1), strict=True):
            h = gru_update(gi_t, self.evolve(h, dt_t), w_h, b_h)  # the state flows through the gap, then reads x_t
            outs.append(h)
        return torch.stack(outs, dim=1), h  # (B, T, H)


@register_model("ode_rnn")
class ODERNN(SequenceModel):
    Config = ODERNNConfig
    onnx_exporter = "torchscript"  # a step-by-step Python loop with a solver inside
    onnx_variable_length = False

    def __init__(self, cfg: ODERNNConfig) -> None:
        super().__init__()
        if cfg.d_model < 1 or cfg.num_layers < 1:
            raise ConfigError("model.d_model and model.num_layers must be >= 1")
        self.cfg = cfg
        self.layers = nn.ModuleList(ODERNNLayer(cfg.d_model, cfg) for _ in range(cfg.num_layers))
        self.drop = nn.Dropout(cfg.dropout)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="recurrent", causal=True, stateful=True, streaming=True, time_aware=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return (torch.zeros(self.cfg.num_layers, batch, self.cfg.d_model, device=device),)  # (L, B, H)

    def forward(
        self, x: torch.Tensor, state: State | None = None, dt: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """x: (B, T, D); dt: (B, T) the time since the previous step (default 1)."""
        (h0,) = state if state is not None else self.init_state(x.shape[0], x.device)
        dt = torch.ones(x.shape[:2], device=x.device, dtype=x.dtype) if dt is None else dt.to(x.dtype)
        hs = []
        for i, layer in enumerate(self.layers):
            x, h = layer(self.drop(x) if i else x, h0[i], dt)
            hs.append(h)
        return x, (torch.stack(hs),)  # (B, T, H)
