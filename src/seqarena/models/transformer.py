"""Pre-norm Transformer on F.scaled_dot_product_attention; causal or not; its attention cache as its state.

One block serves three attention mixers (attention.py): `transformer` (full softmax, a growing KV cache),
`local_attention` (sliding window + global tokens, a bounded cache) and `linear_attention` (kernelised, a
constant-size state). State layout: (cache_0a, cache_0b, cache_1a, cache_1b, ..., pos) with pos a (1,) long tensor
holding the number of steps seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import Cache, LinearAttention, LocalAttention, SoftmaxAttention
from seqarena.models.base import Capabilities, SequenceModel, State, tracing
from seqarena.ranges import NON_NEGATIVE, at_least, opt
from seqarena.registry import register_model


@dataclass(kw_only=True)
class TransformerConfig:
    name: str = "transformer"
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    d_ff: int | None = None  # None: 4 * d_model
    dropout: float = 0.0
    causal: bool = False
    positions: Literal["sinusoidal", "learned", "rope", "alibi", "none"] = "sinusoidal"
    # added to the input (sinusoidal, learned) or applied inside attention (rope: rotary, alibi: linear biases;
    # softmax attention only), or none
    max_len: int = 4096  # longest sequence for learned positions
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


INSIDE = ("rope", "alibi")  # position schemes applied inside the attention, not added to the input


def sinusoidal(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(T,) integer positions -> (T, dim) sin/cos encodings."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freq[None, :]  # (T, half)
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (T, 2*half)
    return F.pad(enc, (0, dim - 2 * half))


class Block(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float, attn: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = attn
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        a, kv = self.attn(self.norm1(x), causal, cache, pos, key_mask)
        x = x + self.drop(a)  # (B, T, D)
        return x + self.drop(self.mlp(self.norm2(x))), kv


@register_model("transformer")
class Transformer(SequenceModel):
    Config = TransformerConfig

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.num_heads:
            raise ConfigError(f"model.d_model={cfg.d_model} must be divisible by model.num_heads={cfg.num_heads}")
        self.cfg = cfg
        if cfg.positions in INSIDE and type(self).mixer is not Transformer.mixer:
            raise ConfigError(f"model.positions={cfg.positions} needs softmax attention (model.name=transformer)")
        if cfg.positions == "rope" and (cfg.d_model // cfg.num_heads) % 2:
            raise ConfigError(
                f"model.positions=rope needs an even head width (d_model / num_heads = {cfg.d_model // cfg.num_heads})"
            )
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.positions == "learned" else None
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        d_ff = cfg.d_ff or 4 * cfg.d_model
        self.blocks = nn.ModuleList(Block(cfg.d_model, d_ff, cfg.dropout, self.mixer()) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def mixer(self) -> nn.Module:
        return SoftmaxAttention(self.cfg.d_model, self.cfg.num_heads, self.cfg.dropout, self.cfg.positions)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        c = cfg.causal
        return Capabilities(family="attention", causal=c, bidirectional=not c, stateful=c, masks=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        if not self.cfg.causal:
            return super().init_state(batch, device)
        caches = [t for block in self.blocks for t in block.attn.empty(batch, device)]
        return (*caches, torch.zeros(1, dtype=torch.long, device=device))

    def forward(
        self, x: torch.Tensor, state: State | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State | None]:
        # x: (B, T, D); mask: (B, T) valid steps (padded keys are never attended to)
        if mask is not None and (state is not None or bool(mask.all())):
            mask = None
        if state is not None and not self.cfg.causal:
            raise TypeError("a non-causal Transformer cannot continue from a KV cache")
        T = x.shape[1]
        if state is not None and tracing():  # ONNX: the position is data, the past a shape
            past, start = state[0].shape[2], state[-1]
            positions = start + torch.arange(T, device=x.device)  # (T,)
        else:
            past = 0 if state is None else int(state[-1].item())
            if past + T > self.cfg.max_len and self.pos is not None:
                raise ValueError(f"sequence of {past + T} steps exceeds model.max_len={self.cfg.max_len}")
            positions = torch.arange(past, past + T, device=x.device)
            start = torch.full((1,), past, dtype=torch.long, device=x.device)
        x = self._placed(x, positions)
        new: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            cache = None if state is None else (state[2 * i], state[2 * i + 1])
            x, kv = block(x, self.cfg.causal, cache, past, mask)
            new.extend(kv)
        if not self.cfg.causal:
            return self.norm(x), None
        return self.norm(x), (*new, start + T)

    def _placed(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self.pos is not None:
            x = x + self.pos(positions)
        elif self.cfg.positions == "sinusoidal":
            x = x + sinusoidal(positions, self.cfg.d_model).to(x.dtype)
        return self.drop(x)

    # Layer by layer, for a caller that may stop between layers (early exit, tasks/classify_exits.py): begin, then
    # stage(0), stage(1), ... and finish on any of them; all stages then finish equal forward(x, mask=mask).
    def stages(self) -> int:
        return len(self.blocks)

    def begin(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.cfg.max_len and self.pos is not None:
            raise ValueError(f"sequence of {x.shape[1]} steps exceeds model.max_len={self.cfg.max_len}")
        return self._placed(x, torch.arange(x.shape[1], device=x.device))  # (B, T, D)

    def stage(self, i: int, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if mask is None or bool(mask.all()) else mask
        return self.blocks[i](h, self.cfg.causal, None, 0, mask)[0]  # (B, T, D)

    def finish(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h)


@dataclass(kw_only=True)
class LocalAttentionConfig(TransformerConfig):
    name: str = "local_attention"
    window: int = opt(32, at_least(1))  # keys within this many steps (each side when not causal)
    global_tokens: int = opt(1, NON_NEGATIVE)  # the first positions every query sees (and that see everything,
    # when not causal)


@register_model("local_attention")
class LocalTransformer(Transformer):
    """Sliding-window attention with global tokens (Longformer/BigBird style) in the shared block."""

    Config = LocalAttentionConfig

    def mixer(self) -> nn.Module:
        c = self.cfg
        if c.window < 1 or c.global_tokens < 0:
            raise ConfigError("model.window must be >= 1 and model.global_tokens >= 0")
        return LocalAttention(c.d_model, c.num_heads, c.dropout, c.window, c.global_tokens)


@dataclass(kw_only=True)
class LinearAttentionConfig(TransformerConfig):
    name: str = "linear_attention"
    causal: bool = True
    chunk: int = opt(64, at_least(1))  # causal training: quadratic inside chunks of this length, a carried state
    # between them


@register_model("linear_attention")
class LinearTransformer(Transformer):
    """Causal linear attention (elu + 1 feature map): linear time, a constant-size recurrent state."""

    Config = LinearAttentionConfig

    def mixer(self) -> nn.Module:
        return LinearAttention(self.cfg.d_model, self.cfg.num_heads, self.cfg.dropout, self.cfg.chunk)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        c = cfg.causal
        # a constant-size state, but it never forgets: trained and generated within a context window, not streamed
        return Capabilities(family="attention", causal=c, bidirectional=not c, stateful=c, masks=True)
