"""GRU-D (Che et al., 2018): a GRU for irregularly sampled series. It takes the time gap before every step and
optionally a mask of observed input features. The hidden state decays with the time since the last observation,
gamma_h = exp(-relu(W delta + b)), before each update. A missing feature is replaced by its last observation,
decayed towards a learnt mean with the time since it was seen: x_hat = m x + (1 - m)(g x_last + (1 - g) mean),
g = exp(-relu(w delta + b)).

Everything that does not depend on the hidden state is computed for the whole window at once. That covers the
time since each feature was last seen (a cumulative maximum), the decayed inputs and both input projections. The
Python loop only does the hidden decay and the GRU update, one (B, H) x (H, 3H) matmul per step.

The mask path needs `masked=True` (its parameters exist only then). Without `dt` every gap is 1, and without
`mask` every feature is observed: then it is a GRU whose hidden state
decays by a learnt constant per step. The forecasting task passes `dt` when the series has uneven timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.registry import register_model


@dataclass(kw_only=True)
class GRUDConfig:
    name: str = "grud"
    d_model: int = 64
    num_layers: int = 1  # the first layer has the input decay; layers above see every feature and decay h only
    dropout: float = 0.0  # between stacked layers
    masked: bool = False  # inputs with missing values: forward takes `mask`, and the input decay is learnt
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


class GRUDLayer(nn.Module):
    def __init__(self, width: int, masked: bool) -> None:
        super().__init__()
        self.hidden = width
        self.w_x = nn.Linear(width, 3 * width)  # gates r, z, n from the (decayed) input
        self.w_h = nn.Linear(width, 3 * width)  # ... and from the hidden state (n's part is gated by r)
        self.decay_h = nn.Linear(width, width)  # time since last seen (per feature) -> hidden decay rate
        if masked:
            self.w_m = nn.Linear(width, 3 * width, bias=False)  # gates from the observation mask
            self.decay_x = nn.Parameter(torch.full((width,), 0.1))  # per-feature input decay rate and offset
            self.decay_x_bias = nn.Parameter(torch.zeros(width))
            self.mean = nn.Parameter(torch.zeros(width))  # what a long-unseen feature decays towards
        for g in range(3):
            nn.init.orthogonal_(self.w_h.weight.data[g * width : (g + 1) * width])

    def inputs(self, x: torch.Tensor, dt: torch.Tensor, mask: torch.Tensor | None, last: torch.Tensor,
               since: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """(decayed inputs (B, T, D), time since last seen (B, T, D), last observed values (B, D), time since
        they were seen at the last step (B, D)). `last`, `since`: the carried values before this window."""
        B, T, D = x.shape
        clock = dt.cumsum(dim=1).unsqueeze(-1).expand(B, T, D)  # (B, T, D): time of each step, 0 = the previous one
        if mask is None:
            delta = dt.unsqueeze(-1).expand(B, T, D) + torch.cat([since.unsqueeze(1), x.new_zeros(B, T - 1, D)], 1)
            return x, delta, x[:, -1], x.new_zeros(B, D)
        seen = torch.where(mask > 0, clock, torch.full_like(clock, -torch.inf))  # (B, T, D)
        before = torch.cat([torch.full_like(seen[:, :1], -torch.inf), seen[:, :-1]], dim=1)  # seen strictly earlier
        when, idx = torch.cummax(before, dim=1)  # (B, T, D): time and step of the last observation before t
        known = torch.isfinite(when)
        when = torch.where(known, when, -since.unsqueeze(1))
        delta = clock - when  # (B, T, D)
        prev = x.gather(1, (idx - 1).clamp(min=0))  # `before` is shifted by one step
        prev = torch.where(known, prev, last.unsqueeze(1))  # (B, T, D) the last observed value
        g = torch.exp(-torch.relu(self.decay_x * delta + self.decay_x_bias))
        x_hat = mask * x + (1 - mask) * (g * prev + (1 - g) * self.mean)
        m_last = mask[:, -1] > 0
        new_last = torch.where(m_last, x[:, -1], prev[:, -1])
        new_since = torch.where(m_last, torch.zeros_like(since), delta[:, -1])
        return x_hat, delta, new_last, new_since

    def forward(self, x: torch.Tensor, h: torch.Tensor, dt: torch.Tensor, mask: torch.Tensor | None,
                last: torch.Tensor, since: torch.Tensor):  # fmt: skip
        # x: (B, T, D); h: (B, H); dt: (B, T); mask: (B, T, D) or None
        x_hat, delta, last, since = self.inputs(x, dt, mask, last, since)
        gi = self.w_x(x_hat)  # (B, T, 3H): every step's input projection in one matmul
        if mask is not None:
            gi = gi + self.w_m(mask)
        decay = torch.exp(-torch.relu(self.decay_h(delta)))  # (B, T, H)
        w_h, b_h = self.w_h.weight.t(), self.w_h.bias  # (H, 3H), (3H,)
        outs = []
        for gi_t, decay_t in zip(gi.unbind(1), decay.unbind(1), strict=True):
            h = gru_update(gi_t, decay_t * h, w_h, b_h)
            outs.append(h)
        return torch.stack(outs, dim=1), h, last, since  # (B, T, H)


def gru_update(gi_t: torch.Tensor, h: torch.Tensor, w_h: torch.Tensor, b_h: torch.Tensor) -> torch.Tensor:
    """One GRU step from a precomputed input projection gi_t (B, 3H) and the state h (B, H); w_h (H, 3H)."""
    H = h.shape[1]
    gh = torch.addmm(b_h, h, w_h)  # (B, 3H)
    rz = torch.sigmoid(gi_t[:, : 2 * H] + gh[:, : 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = torch.tanh(torch.addcmul(gi_t[:, 2 * H :], r, gh[:, 2 * H :]))
    return n + z * (h - n)  # (1 - z) n + z h


@register_model("grud")
class GRUD(SequenceModel):
    Config = GRUDConfig
    onnx_exporter = "torchscript"  # a step-by-step Python loop: torch.export traces every step (minutes)
    onnx_variable_length = False

    def __init__(self, cfg: GRUDConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(GRUDLayer(cfg.d_model, cfg.masked and i == 0) for i in range(cfg.num_layers))
        self.drop = nn.Dropout(cfg.dropout)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="recurrent", causal=True, stateful=True, streaming=True, time_aware=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        D = self.cfg.d_model
        h = torch.zeros(self.cfg.num_layers, batch, D, device=device)  # (L, B, H)
        return h, torch.zeros(batch, D, device=device), torch.zeros(batch, D, device=device)  # + last, since

    def forward(self, x: torch.Tensor, state: State | None = None, dt: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:  # fmt: skip
        """x: (B, T, D); dt: (B, T) the time since the previous step (default 1); mask: (B, T, D), 1 = observed."""
        if mask is not None and not self.cfg.masked:
            raise ConfigError("model 'grud' takes an observation mask only with model.masked=true")
        h0, last, since = state if state is not None else self.init_state(x.shape[0], x.device)
        dt = torch.ones(x.shape[:2], device=x.device) if dt is None else dt.to(x.dtype)
        hs = []
        for i, layer in enumerate(self.layers):
            if i == 0:
                x, h, last, since = layer(x, h0[0], dt, mask, last, since)
            else:  # upper layers: every feature observed, only the hidden decay
                zeros = torch.zeros_like(last)
                x, h, _, _ = layer(self.drop(x), h0[i], dt, None, zeros, zeros)
            hs.append(h)
        return x, (torch.stack(hs), last, since)  # (B, T, H)
