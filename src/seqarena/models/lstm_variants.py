"""LSTM variants that need custom cells: peephole connections (Gers & Schmidhuber, 2000) and layer
normalisation (Ba et al., 2016). To keep the Python time loop cheap, the input projection of every step is one
matmul before the loop, the loop iterates `unbind(1)` (never `x[:, t]` of a tensor that requires grad: O(T^2)
backward), and each step is one (B, H) x (H, 4H) matmul plus elementwise gates.
`benchmarks/custom_cells.py` measures what they cost against the fused nn.LSTM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from seqarena.models.base import Capabilities, SequenceModel, State
from seqarena.models.kernels import lstm_cells, native
from seqarena.ranges import NON_NEGATIVE, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class CellLSTMConfig:
    name: str = "peephole_lstm"
    d_model: int = 64
    num_layers: int = 2
    dropout: float = 0.0  # between stacked layers
    params: int | None = None  # a target parameter count: sets d_model (within 5%)
    # auto: the C++ time loop (models/kernels) for float32 on the CPU when it is built, else this file's autograd
    # loop; torch: always the autograd loop
    kernel: Literal["auto", "torch"] = "auto"
    cell_l2: float = opt(0.0, NON_NEGATIVE)  # training: add cell_l2 * mean(c_t^2) over steps, layers and units to
    # the loss, keeping the cell state small (the articles use 0.001); it runs the autograd loop while training


class CellLayer(nn.Module):
    """One LSTM layer; `peephole` adds c -> gate weights, `layer_norm` normalises the projections and the cell."""

    def __init__(self, width: int, peephole: bool, layer_norm: bool, kernel: str = "auto") -> None:
        super().__init__()
        self.hidden = width
        self.kernel = kernel
        self.w_x = nn.Linear(width, 4 * width, bias=not layer_norm)
        self.w_h = nn.Linear(width, 4 * width, bias=False)
        for g in range(4):
            nn.init.orthogonal_(self.w_h.weight.data[g * width : (g + 1) * width])
        self.peep = nn.Parameter(torch.zeros(3, width)) if peephole else None  # input, forget, output
        self.ln = layer_norm
        if layer_norm:
            self.ln_x, self.ln_h, self.ln_c = nn.LayerNorm(4 * width), nn.LayerNorm(4 * width), nn.LayerNorm(width)
            self.bias = nn.Parameter(torch.zeros(4 * width))
        gate_bias = self.bias if layer_norm else self.w_x.bias
        with torch.no_grad():
            gate_bias.zero_()
            gate_bias[width : 2 * width] = 1.0  # forget gate (order: input, forget, output, candidate) opens

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, cells: list | None = None):
        # x: (B, T, D); h, c: (B, H). Gate order inside: input, forget, output (one sigmoid), then candidate.
        # `cells`: a list that gets each step's mean squared cell state (the C++ loop does not expose them)
        if self.kernel != "torch" and cells is None and native.usable("lstm_cells", x):
            return lstm_cells.run_layer(self, x, h, c)  # the same math in a C++ loop (models/kernels)
        H = self.hidden
        xs = self.w_x(x)  # (B, T, 4H): every step's input projection in one matmul
        if self.ln:
            xs = self.ln_x(xs) + self.bias
        w_h = self.w_h.weight.t()  # (H, 4H)
        outs = []
        for x_t in xs.unbind(1):
            gates = self.ln_h(h @ w_h) + x_t if self.ln else torch.addmm(x_t, h, w_h)  # (B, 4H), one op
            if self.peep is None:
                i, f, o = torch.sigmoid(gates[:, : 3 * H]).chunk(3, dim=1)
            else:  # peepholes: the input and forget gates see c_{t-1}, the output gate sees c_t
                i = torch.sigmoid(torch.addcmul(gates[:, :H], self.peep[0], c))
                f = torch.sigmoid(torch.addcmul(gates[:, H : 2 * H], self.peep[1], c))
            c = torch.addcmul(f * c, i, torch.tanh(gates[:, 3 * H :]))
            if self.peep is not None:
                o = torch.sigmoid(torch.addcmul(gates[:, 2 * H : 3 * H], self.peep[2], c))
            h = o * torch.tanh(self.ln_c(c) if self.ln else c)
            outs.append(h)
            if cells is not None:
                cells.append(c.square().mean())
        return torch.stack(outs, dim=1), h, c  # (B, T, H)


class _CellLSTM(SequenceModel):
    # a step-by-step Python loop: torch.export traces every step (minutes at T=96); the tracer records it in seconds
    onnx_exporter = "torchscript"
    onnx_variable_length = False
    peephole = False
    layer_norm = False

    def __init__(self, cfg: CellLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        make = lambda: CellLayer(cfg.d_model, self.peephole, self.layer_norm, cfg.kernel)  # noqa: E731
        self.layers = nn.ModuleList(make() for _ in range(cfg.num_layers))
        self.drop = nn.Dropout(cfg.dropout)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        return Capabilities(family="recurrent", causal=True, stateful=True, streaming=True)

    @property
    def penalises(self) -> bool:
        """Training adds model.cell_l2's penalty (training/recipes.py)."""
        return bool(self.cfg.cell_l2)

    def describe_kernel(self, device: torch.device) -> str:
        """Which time loop training on `device` uses (run.json records it)."""
        if self.cfg.kernel == "torch" or self.cfg.cell_l2 or device.type != "cpu":
            return "autograd loop"
        return native.describe("lstm_cells", "seqarena C++ loop", "autograd loop")

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        zeros = torch.zeros(self.cfg.num_layers, batch, self.cfg.d_model, device=device)  # (L, B, H)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        h0, c0 = state if state is not None else self.init_state(x.shape[0], x.device)
        hs, cs = [], []
        cells = [] if self.cfg.cell_l2 and self.training and torch.is_grad_enabled() else None
        for i, layer in enumerate(self.layers):
            x, h, c = layer(x if i == 0 else self.drop(x), h0[i], c0[i], cells)
            hs.append(h)
            cs.append(c)
        if cells:  # collected by the training loop (training/recipes.py penalty)
            self.penalty = self.cfg.cell_l2 * torch.stack(cells).mean()
        return x, (torch.stack(hs), torch.stack(cs))  # (B, T, H)


@register_model("peephole_lstm")
class PeepholeLSTM(_CellLSTM):
    Config = CellLSTMConfig
    peephole = True


@dataclass(kw_only=True)
class LayerNormLSTMConfig(CellLSTMConfig):
    name: str = "layernorm_lstm"


@register_model("layernorm_lstm")
class LayerNormLSTM(_CellLSTM):
    Config = LayerNormLSTMConfig
    layer_norm = True
