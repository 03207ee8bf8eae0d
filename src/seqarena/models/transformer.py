"""Pre-norm Transformer encoder on F.scaled_dot_product_attention; causal or not; a KV cache as its state.

State layout: (k_0, v_0, k_1, v_1, ...), each (B, heads, T_past, head_dim); its length gives the position offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State
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
    positions: Literal["sinusoidal", "learned", "none"] = "sinusoidal"
    max_len: int = 4096  # longest sequence for learned positions
    params: int | None = None  # a target parameter count: sets d_model (within 5%)


def sinusoidal(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(T,) integer positions -> (T, dim) sin/cos encodings."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freq[None, :]  # (T, half)
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)  # (T, 2*half)
    return F.pad(enc, (0, dim - 2 * half))


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, causal: bool, cache: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)  # (B, h, T, hd)
        past = 0
        if cache is not None:
            past = cache[0].shape[2]
            k = torch.cat([cache[0], k], dim=2)  # (B, h, past + T, hd)
            v = torch.cat([cache[1], v], dim=2)
        mask, is_causal = None, causal and T > 1
        if is_causal and past > 0:  # queries sit at positions past..past+T-1: bottom-right aligned causal mask
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            is_causal = False
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=is_causal)
        return self.out(y.transpose(1, 2).reshape(B, T, D)), (k, v)  # (B, T, D)


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, causal: bool, cache: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, kv = self.attn(self.norm1(x), causal, cache)
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
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.positions == "learned" else None
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        d_ff = cfg.d_ff or 4 * cfg.d_model
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.num_heads, d_ff, cfg.dropout) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def capabilities(self) -> Capabilities:
        c = self.cfg.causal
        return Capabilities(family="attention", causal=c, bidirectional=not c, stateful=c)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        if not self.cfg.causal:
            return super().init_state(batch, device)
        hd = self.cfg.d_model // self.cfg.num_heads
        empty = torch.zeros(batch, self.cfg.num_heads, 0, hd, device=device)  # (B, h, 0, hd)
        return tuple(empty.clone() for _ in range(2 * self.cfg.num_layers))

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State | None]:
        # x: (B, T, D)
        if state is not None and not self.cfg.causal:
            raise TypeError("a non-causal Transformer cannot continue from a KV cache")
        T = x.shape[1]
        past = 0 if state is None else state[0].shape[2]
        if past + T > self.cfg.max_len and self.pos is not None:
            raise ValueError(f"sequence of {past + T} steps exceeds model.max_len={self.cfg.max_len}")
        positions = torch.arange(past, past + T, device=x.device)
        if self.pos is not None:
            x = x + self.pos(positions)
        elif self.cfg.positions == "sinusoidal":
            x = x + sinusoidal(positions, self.cfg.d_model).to(x.dtype)
        x = self.drop(x)
        new: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            cache = None if state is None else (state[2 * i], state[2 * i + 1])
            x, kv = block(x, self.cfg.causal, cache)
            new.extend(kv)
        return self.norm(x), (tuple(new) if self.cfg.causal else None)
