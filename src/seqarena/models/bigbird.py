"""BigBird-style block-sparse attention (Zaheer et al., 2020) in the shared Transformer block: the sequence is cut
into blocks of `block` steps and each query block attends to its neighbours (a sliding window of blocks), the first
`global_blocks` blocks (which, when not causal, also attend to everything) and `random_blocks` other blocks, so time
and memory grow linearly with the length.

The random blocks are a fixed, seeded pattern per layer; a causal query block draws them from earlier blocks with a
seed of its own index only, so the pattern of a prefix never changes as the sequence grows and stepping with the
KV cache (which then grows like a full Transformer's) equals the whole-sequence result.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import Cache, _Heads
from seqarena.models.base import tracing
from seqarena.models.transformer import Transformer, TransformerConfig
from seqarena.ranges import NON_NEGATIVE, at_least, opt
from seqarena.registry import register_model


@lru_cache(maxsize=64)
def block_pattern(nb: int, causal: bool, global_blocks: int, random_blocks: int, seed: int) -> torch.Tensor:
    """(nb, nb) bool: which key blocks each query block attends to."""
    allowed = torch.zeros(nb, nb, dtype=torch.bool)
    for i in range(nb):
        if not causal and i < global_blocks:  # a global query block sees the whole sequence
            allowed[i] = True
            continue
        near = {j for j in (i - 1, i, i + 1) if 0 <= j < nb and (not causal or j <= i)}
        glob = {j for j in range(min(global_blocks, nb)) if not causal or j <= i}
        eligible = [j for j in range(nb if not causal else i) if j not in near and j not in glob]
        rng = random.Random(seed * 1_000_003 + i * 7919 + (0 if causal else nb))
        picks = rng.sample(eligible, min(random_blocks, len(eligible)))
        allowed[i, sorted(near | glob | set(picks))] = True
    return allowed


class BigBirdAttention(_Heads):
    def __init__(
        self, d_model: int, num_heads: int, dropout: float, block: int, global_blocks: int, random_blocks: int,
        seed: int,
    ) -> None:  # fmt: skip
        super().__init__(d_model, num_heads, dropout)
        self.block, self.global_blocks, self.random_blocks, self.seed = block, global_blocks, random_blocks, seed

    def pattern(self, nb: int, causal: bool) -> torch.Tensor:
        return block_pattern(nb, causal, self.global_blocks, self.random_blocks, self.seed)

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        q, k, v = self.split(x)  # (B, h, T, hd)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, past + T, hd)
        if cache is None and pos == 0 and not tracing():
            y = self._blocked(q, k, v, causal, key_mask)
        else:
            y = self._dense(q, k, v, causal, key_mask)
        return self.merge(y), (k, v)

    def _dense(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, key_mask: torch.Tensor | None):
        """The same pattern as a (T, K) mask over every cached key: queries at the last T positions."""
        T, K, W = q.shape[2], k.shape[2], self.block
        q_pos = torch.arange(K - T, K, device=q.device)
        k_pos = torch.arange(K, device=q.device)
        allowed = self.pattern(-(-K // W), causal).to(q.device)
        mask = allowed[q_pos[:, None] // W, k_pos[None, :] // W]  # (T, K)
        if causal:
            mask = mask & (k_pos[None, :] <= q_pos[:, None])
        if key_mask is not None:  # (B, K) valid keys -> (B, 1, T, K)
            mask = mask & key_mask[:, None, None, :]
        mask = mask | (k_pos[None, :] == q_pos[:, None])  # a query always sees itself: no empty row
        drop = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)

    def _blocked(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, key_mask: torch.Tensor | None):
        """Each query block gathers its key blocks: (B, h, nb, S * W, hd) with S the most blocks any row sees."""
        B, h, T, d = q.shape
        W = self.block
        nb = -(-T // W)
        pad = nb * W - T
        allowed = self.pattern(nb, causal).to(q.device)
        dense_rows = 0 if causal else min(self.global_blocks, nb)  # global query blocks: dense, below
        rows = allowed[dense_rows:]
        S = int(rows.sum(1).max()) if len(rows) else 1
        order = torch.sort((~rows).to(torch.int8), dim=1, stable=True).indices[:, :S]  # allowed blocks first
        valid = torch.gather(rows, 1, order)  # (nb', S) a real entry or filler
        qb = F.pad(q, (0, 0, 0, pad)).view(B, h, nb, W, d)[:, :, dense_rows:]  # (B, h, nb', W, d)
        kb = F.pad(k, (0, 0, 0, pad)).view(B, h, nb, W, d)[:, :, order].flatten(3, 4)  # (B, h, nb', S * W, d)
        vb = F.pad(v, (0, 0, 0, pad)).view(B, h, nb, W, d)[:, :, order].flatten(3, 4)
        dev = q.device
        q_pos = torch.arange(dense_rows, nb, device=dev)[:, None] * W + torch.arange(W, device=dev)  # (nb', W)
        k_pos = (order[:, :, None] * W + torch.arange(W, device=dev)).flatten(1)  # (nb', S * W)
        mask = valid.repeat_interleave(W, dim=1)[:, None, :] & (k_pos < T)[:, None, :]  # (nb', 1, S * W)
        if causal:
            mask = mask & (k_pos[:, None, :] <= q_pos[:, :, None])  # (nb', W, S * W)
        if key_mask is not None:
            km = F.pad(key_mask, (0, pad)).view(B, nb, W)[:, order].flatten(2)  # (B, nb', S * W)
            mask = mask & km[:, None, :, None, :]  # (B, 1, nb', W, S * W)
        mask = mask | (k_pos[:, None, :] == q_pos[:, :, None])  # a query always sees itself
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, dropout_p=drop)  # (B, h, nb', W, d)
        y = y.reshape(B, h, -1, d)
        if dense_rows:  # global queries attend to every (valid) position
            g = min(dense_rows * W, T)
            gm = None if key_mask is None else key_mask[:, None, None, :]
            top = F.scaled_dot_product_attention(q[:, :, :g], k, v, attn_mask=gm, dropout_p=drop)
            y = torch.cat([top, y], dim=2)
        return y[:, :, :T]


@dataclass(kw_only=True)
class BigBirdConfig(TransformerConfig):
    name: str = "bigbird"
    block: int = opt(32, at_least(1))  # steps per block
    global_blocks: int = opt(1, NON_NEGATIVE)  # the first blocks every query sees (they see all, when not causal)
    random_blocks: int = opt(2, NON_NEGATIVE)  # further blocks per query block, a fixed seeded pattern per layer


@register_model("bigbird")
class BigBird(Transformer):
    """Block-sparse attention (window + global + random blocks) in the shared Transformer block."""

    Config = BigBirdConfig

    def mixer(self) -> nn.Module:
        c = self.cfg
        if c.block < 1 or c.global_blocks < 0 or c.random_blocks < 0:
            raise ConfigError("model.block must be >= 1, model.global_blocks and model.random_blocks >= 0")
        self._layer = getattr(self, "_layer", -1) + 1  # each layer its own random pattern
        return BigBirdAttention(c.d_model, c.num_heads, c.dropout, c.block, c.global_blocks, c.random_blocks,
                                self._layer)  # fmt: skip
