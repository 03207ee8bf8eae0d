"""Vanilla RNN (tanh/relu), LSTM and GRU backbones on the fused torch kernels.

`residual=true` stacks single-layer kernels with a skip connection around each; otherwise one multi-layer
kernel runs the whole stack. A bidirectional model uses d_model/2 units per direction so its output stays D
wide; it is not causal and cannot be stepped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State, tracing
from seqarena.models.kernels import native
from seqarena.models.kernels.gru import run_gru
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class RecurrentConfig:
    name: str = "lstm"
    d_model: int = 64  # the hidden size (per direction: d_model / 2 when bidirectional)
    num_layers: int = 2
    dropout: float = 0.0  # between stacked layers
    bidirectional: bool = False
    residual: bool = False  # skip connections between stacked layers
    units: int | None = opt(None, at_least(1))  # hidden units per layer when not d_model (what structured pruning,
    # train.prune, leaves): a linear map (no bias) takes the last layer's units back to d_model
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


@dataclass(kw_only=True)
class VanillaRNNConfig(RecurrentConfig):
    name: str = "rnn"
    nonlinearity: Literal["tanh", "relu"] = "tanh"


def _orthogonal_init(rnn: nn.RNNBase, gates: int, forget_bias: bool) -> None:
    hidden = rnn.hidden_size
    for name, param in rnn.named_parameters():
        if name.startswith("weight_hh"):
            for g in range(gates):
                nn.init.orthogonal_(param.data[g * hidden : (g + 1) * hidden])
        elif name.startswith("weight_ih"):
            for g in range(gates):
                nn.init.xavier_uniform_(param.data[g * hidden : (g + 1) * hidden])
        elif name.startswith("bias"):
            nn.init.zeros_(param)
            if forget_bias and name.startswith("bias_ih"):
                param.data[hidden : 2 * hidden] = 1.0  # LSTM gate order i, f, g, o: forget gate opens at start


class _Recurrent(SequenceModel):
    kernel_cls: ClassVar[type[nn.RNNBase]]
    gates: ClassVar[int]
    has_cell: ClassVar[bool] = False  # LSTM carries (h, c)

    def __init__(self, cfg: RecurrentConfig) -> None:
        super().__init__()
        if cfg.d_model < 1 or cfg.num_layers < 1:
            raise ConfigError("model.d_model and model.num_layers must be >= 1")
        if cfg.bidirectional and cfg.d_model % 2:
            raise ConfigError(f"model.d_model={cfg.d_model} must be even for a bidirectional model (D/2 per direction)")
        if cfg.units is not None and (cfg.residual or cfg.bidirectional):
            raise ConfigError("model.units needs a plain stack: set model.residual=false and model.bidirectional=false")
        self.cfg = cfg
        self.hidden = cfg.units or (cfg.d_model // 2 if cfg.bidirectional else cfg.d_model)
        # the last layer's units back to d_model when they differ
        self.out = nn.Linear(self.hidden, cfg.d_model, bias=False) if cfg.units not in (None, cfg.d_model) else None
        dirs = 2 if cfg.bidirectional else 1
        if cfg.residual:
            self.layers = nn.ModuleList(self._kernel(1, 0.0) for _ in range(cfg.num_layers))
            self.drop = nn.Dropout(cfg.dropout)
        else:
            self.layers = nn.ModuleList([self._kernel(cfg.num_layers, cfg.dropout if cfg.num_layers > 1 else 0.0)])
        for layer in self.layers:
            _orthogonal_init(layer, self.gates, self.has_cell)
        self.state_rows = cfg.num_layers * dirs

    def _kernel(self, num_layers: int, dropout: float) -> nn.RNNBase:
        c = self.cfg
        extra = {"nonlinearity": c.nonlinearity} if isinstance(c, VanillaRNNConfig) else {}
        return self.kernel_cls(
            c.d_model,
            self.hidden,  # layers after the first read the units before them
            num_layers,
            batch_first=True,
            dropout=dropout,
            bidirectional=c.bidirectional,
            **extra,
        )

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        bi = cfg.bidirectional
        return Capabilities(
            family="recurrent",
            causal=not bi,
            bidirectional=bi,
            stateful=not bi,
            streaming=not bi,
            masks=True,
        )

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        if self.cfg.bidirectional:
            return super().init_state(batch, device)
        zeros = torch.zeros(self.state_rows, batch, self.hidden, device=device)  # (L, B, H)
        return (zeros, zeros.clone()) if self.has_cell else (zeros,)

    def forward(
        self, x: torch.Tensor, state: State | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State | None]:
        # x: (B, T, D); mask: (B, T) valid steps (right padding), run as packed sequences
        if state is not None and self.cfg.bidirectional:
            raise TypeError("a bidirectional RNN cannot continue from a state")
        lengths = None if mask is None or bool(mask.all()) else mask.sum(1).clamp_min(1).cpu()
        if not self.cfg.residual:
            y, new = self._run(self.layers[0], x, self._pack(state), lengths)  # (B, T, H)
            return (y if self.out is None else self.out(y)), self._unpack(new)  # (B, T, D)
        per_layer = self.state_rows // len(self.layers)
        news = []
        for i, layer in enumerate(self.layers):
            sub = None if state is None else tuple(s[i * per_layer : (i + 1) * per_layer] for s in state)
            y, new = self._run(layer, x, self._pack(sub), lengths)
            x = x + self.drop(y)  # (B, T, D)
            news.append(self._unpack(new))
        return x, tuple(torch.cat(parts, 0) for parts in zip(*news, strict=True))

    def _run(self, layer: nn.RNNBase, x: torch.Tensor, hx: Any, lengths: torch.Tensor | None) -> tuple[Any, Any]:
        if lengths is None:
            return layer(x, hx)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, new = layer(packed, hx)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])  # zeros past the end
        return y, new

    def _pack(self, state: State | None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None:
        if state is None:
            return None
        return (state[0], state[1]) if self.has_cell else state[0]

    def _unpack(self, new: torch.Tensor | tuple[torch.Tensor, ...]) -> State:
        return tuple(new) if self.has_cell else (new,)


@register_model("lstm")
class LSTM(_Recurrent):
    Config = RecurrentConfig
    kernel_cls = nn.LSTM
    gates = 4
    has_cell = True


@dataclass(kw_only=True)
class GRUConfig(RecurrentConfig):
    name: str = "gru"
    # auto: seqarena's GRU kernel (models/kernels, the C++ loop when built) on the CPU, nn.GRU on CUDA (cuDNN),
    # for padded batches and inside export; torch: always nn.GRU; seqarena: always seqarena's kernel
    kernel: Literal["auto", "torch", "seqarena"] = "auto"


@register_model("gru")
class GRU(_Recurrent):
    """nn.GRU's parameters and math; on the CPU its time loop runs in seqarena's kernel (nn.GRU has no oneDNN
    path there and trains about 3x slower than nn.LSTM; `benchmarks/recurrent_speed.py`)."""

    Config = GRUConfig
    kernel_cls = nn.GRU
    gates = 3

    def _scan(self, x: torch.Tensor, lengths: torch.Tensor | None) -> bool:
        kernel = self.cfg.kernel
        if kernel == "torch" or lengths is not None or tracing():
            return False
        return kernel == "seqarena" or x.device.type == "cpu"

    def _run(self, layer: nn.RNNBase, x: torch.Tensor, hx: Any, lengths: torch.Tensor | None) -> tuple[Any, Any]:
        if self._scan(x, lengths):
            return run_gru(layer, x, hx)
        return super()._run(layer, x, hx, lengths)

    def describe_kernel(self, device: torch.device) -> str:
        """Which time loop training on `device` uses (run.json records it)."""
        if self.cfg.kernel == "torch" or (self.cfg.kernel == "auto" and device.type != "cpu"):
            return "torch nn.GRU"
        if device.type != "cpu":
            return "seqarena Python loop"
        return native.describe("gru", "seqarena C++ loop", "seqarena Python loop")


@register_model("rnn")
class VanillaRNN(_Recurrent):
    Config = VanillaRNNConfig
    kernel_cls = nn.RNN
    gates = 1
