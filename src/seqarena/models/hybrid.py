"""Hybrids of recurrence and attention, built from the zoo's parts (fused RNN kernels, the shared Transformer
block):

- `lstm_attention`: an LSTM, then causal attention over its outputs with the LSTM output as the query.
- `hybrid`: a stack whose layer kinds follow a pattern string, e.g. "RRAR" (R: recurrent, A: attention block).
- `lstm_gru`: lower layers LSTM, upper layers GRU.

All are causal and stateful; the state is the layers' states in order, then a (1,) step counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import SoftmaxAttention
from seqarena.models.base import Capabilities, SequenceModel, State, tracing
from seqarena.models.kernels import native
from seqarena.models.kernels.gru import run_gru
from seqarena.models.transformer import Block, sinusoidal
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model


class RecurrentLayer(nn.Module):
    """Pre-norm residual wrapper of a one-layer fused LSTM/GRU: x + rnn(LN(x))."""

    def __init__(self, kind: str, width: int, dropout: float) -> None:
        super().__init__()
        self.kind = kind
        self.norm = nn.LayerNorm(width)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(width, width, batch_first=True)
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                nn.init.orthogonal_(p)
        self.drop = nn.Dropout(dropout)

    def slots(self) -> int:
        return 2 if self.kind == "lstm" else 1

    def describe_kernel(self, device: torch.device) -> str:
        if self.kind == "lstm":
            return "torch nn.LSTM"
        if device.type != "cpu":
            return "torch nn.GRU"
        return native.describe("gru", "seqarena C++ loop", "seqarena Python loop")

    def empty(self, batch: int, device: torch.device | None) -> tuple[torch.Tensor, ...]:
        z = torch.zeros(1, batch, self.rnn.hidden_size, device=device)
        return (z, z.clone()) if self.kind == "lstm" else (z,)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None, pos: int):
        packed = None if state is None else (state if self.kind == "lstm" else state[0])
        if self.kind == "gru" and x.device.type == "cpu" and not tracing():  # nn.GRU has no oneDNN path
            y, new = run_gru(self.rnn, self.norm(x), packed)
        else:
            y, new = self.rnn(self.norm(x), packed)
        return x + self.drop(y), tuple(new) if self.kind == "lstm" else (new,)


class AttentionLayer(nn.Module):
    """The shared Transformer block with causal softmax attention and sinusoidal positions at its input."""

    def __init__(self, width: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.block = Block(width, 4 * width, dropout, SoftmaxAttention(width, num_heads, dropout))

    def slots(self) -> int:
        return 2

    def empty(self, batch: int, device: torch.device | None) -> tuple[torch.Tensor, ...]:
        return self.block.attn.empty(batch, device)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None, pos: int):
        positions = torch.arange(pos, pos + x.shape[1], device=x.device)
        x = x + sinusoidal(positions, x.shape[-1]).to(x.dtype)
        return self.block(x, True, state, pos)


class _Stack(SequenceModel):
    """Layers in order, each with its own slice of the flat state."""

    def _build(self, layers: list[nn.Module], width: int) -> None:
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(width)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        # a stack with an attention layer keeps a growing KV cache: it works within a context window, not streamed
        return Capabilities(family="hybrid", causal=True, stateful=True, streaming=not cls.attends(cfg))

    @staticmethod
    def attends(cfg: Any) -> bool:
        raise NotImplementedError

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        parts = [t for layer in self.layers for t in layer.empty(batch, device)]
        return (*parts, torch.zeros(1, dtype=torch.long, device=device))

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        pos = 0 if state is None else int(state[-1].item())
        new: list[torch.Tensor] = []
        offset = 0
        for layer in self.layers:
            n = layer.slots()
            x, s = layer(x, None if state is None else tuple(state[offset : offset + n]), pos)
            new.extend(s)
            offset += n
        steps = torch.full((1,), pos + x.shape[1], dtype=torch.long, device=x.device)
        return self.norm(x), (*new, steps)  # (B, T, D)


@dataclass(kw_only=True)
class HybridConfig:
    name: str = "hybrid"
    d_model: int = 64
    pattern: str = "RRAR"  # layer kinds bottom-up: R = recurrent, A = attention block
    rnn: Literal["lstm", "gru"] = "lstm"
    num_heads: int = 4
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


@register_model("hybrid")
class Hybrid(_Stack):
    Config = HybridConfig

    @staticmethod
    def attends(cfg: Any) -> bool:
        return "A" in cfg.pattern.upper()

    def __init__(self, cfg: HybridConfig) -> None:
        super().__init__()
        kinds = cfg.pattern.upper()
        if not kinds or set(kinds) - {"R", "A"}:
            raise ConfigError(f"model.pattern={cfg.pattern!r} must be a string of R (recurrent) and A (attention)")
        if "A" in kinds and cfg.d_model % cfg.num_heads:
            raise ConfigError(f"model.d_model={cfg.d_model} must be divisible by model.num_heads={cfg.num_heads}")
        self.cfg = cfg
        make = {"R": lambda: RecurrentLayer(cfg.rnn, cfg.d_model, cfg.dropout),
                "A": lambda: AttentionLayer(cfg.d_model, cfg.num_heads, cfg.dropout)}  # fmt: skip
        self._build([make[k]() for k in kinds], cfg.d_model)


@dataclass(kw_only=True)
class LSTMAttentionConfig:
    name: str = "lstm_attention"
    d_model: int = 64
    num_layers: int = 1  # LSTM layers below the attention
    num_heads: int = 4
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


@register_model("lstm_attention")
class LSTMAttention(_Stack):
    """Attention over the recurrent outputs, each LSTM output attending to the outputs up to its step."""

    Config = LSTMAttentionConfig

    @staticmethod
    def attends(cfg: Any) -> bool:
        return True

    def __init__(self, cfg: LSTMAttentionConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.num_heads:
            raise ConfigError(f"model.d_model={cfg.d_model} must be divisible by model.num_heads={cfg.num_heads}")
        self.cfg = cfg
        layers = [RecurrentLayer("lstm", cfg.d_model, cfg.dropout) for _ in range(cfg.num_layers)]
        self._build([*layers, AttentionLayer(cfg.d_model, cfg.num_heads, cfg.dropout)], cfg.d_model)


@dataclass(kw_only=True)
class LSTMGRUConfig:
    name: str = "lstm_gru"
    d_model: int = 64
    lstm_layers: int = opt(1, at_least(1))
    gru_layers: int = opt(1, at_least(1))
    dropout: float = 0.0
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


@register_model("lstm_gru")
class LSTMGRU(_Stack):
    Config = LSTMGRUConfig

    @staticmethod
    def attends(cfg: Any) -> bool:
        return False

    def __init__(self, cfg: LSTMGRUConfig) -> None:
        super().__init__()
        if cfg.lstm_layers < 1 or cfg.gru_layers < 1:
            raise ConfigError("model.lstm_layers and model.gru_layers must be >= 1")
        self.cfg = cfg
        kinds = ["lstm"] * cfg.lstm_layers + ["gru"] * cfg.gru_layers
        self._build([RecurrentLayer(k, cfg.d_model, cfg.dropout) for k in kinds], cfg.d_model)
