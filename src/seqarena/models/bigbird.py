"""BigBird-style block-sparse attention (Zaheer et al., 2020) in the shared Transformer block: the sequence is cut
into blocks of `block` steps and each query block attends to its neighbours (a sliding window of blocks), the first
`global_blocks` blocks (which, when not causal, also attend to everything) and `random_blocks` other blocks, so time
and memory grow linearly with the length.

The random blocks are a fixed, seeded pattern per layer (uniform draws per query block, scaled to the number of
blocks); a causal query block scales them to the blocks before it, so the pattern of a prefix never changes as the
sequence grows and stepping with the KV cache (which then grows like a full Transformer's) equals the
whole-sequence result. The pattern is tensor arithmetic, so an exported graph takes any length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import Cache, _Heads
from seqarena.models.base import tracing
from seqarena.models.transformer import Transformer, TransformerConfig
from seqarena.ranges import NON_NEGATIVE, at_least, opt
from seqarena.registry import register_model


def block_pattern(
    qb: torch.Tensor, kb: torch.Tensor, nb: int, causal: bool, global_blocks: int, picks: torch.Tensor
) -> torch.Tensor:
    """(len(qb), len(kb)) bool: whether query block qb[i] attends to key block kb[j] in a sequence of nb blocks.
    `picks` (max blocks, random_blocks) are uniform draws in [0, 1): query block i's random blocks are
    floor(picks[i] * nb), or floor(picks[i] * i) (earlier blocks) when causal. Tensor arithmetic only, so a
    traced graph computes the pattern for whatever length it is given."""
    diff = qb[:, None] - kb[None, :]
    near = (diff >= 0) & (diff <= 1) if causal else diff.abs() <= 1
    glob = (kb < global_blocks)[None, :].expand_as(near)
    if not causal:
        glob = glob | (qb < global_blocks)[:, None]  # a global query block sees the whole sequence
    span = qb[:, None].to(picks.dtype) if causal else torch.full_like(picks[qb], float(nb))
    chosen = (picks[qb] * span).long()  # (Tq, r) block indices
    rand = (kb[None, :, None] == chosen[:, None, :]).any(-1)
    return near | glob | rand


class BigBirdAttention(_Heads):
    def __init__(
        self, d_model: int, num_heads: int, dropout: float, block: int, global_blocks: int, random_blocks: int,
        seed: int, max_len: int,
    ) -> None:  # fmt: skip
        super().__init__(d_model, num_heads, dropout)
        self.block, self.global_blocks = block, global_blocks
        gen = torch.Generator().manual_seed(seed)  # the layer's fixed random pattern, rebuilt identically on load
        self.register_buffer("picks", torch.rand(-(-max_len // block), random_blocks, generator=gen), persistent=False)

    def pattern(self, qb: torch.Tensor, kb: torch.Tensor, nb: int, causal: bool) -> torch.Tensor:
        if not tracing() and nb > len(self.picks):
            raise ValueError(
                f"a sequence of {nb * self.block} steps exceeds model.max_len={len(self.picks) * self.block}"
            )
        return block_pattern(qb, kb, nb, causal, self.global_blocks, self.picks)

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
        mask = self.pattern(q_pos // W, k_pos // W, (K + W - 1) // W, causal)  # (T, K)
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
        blocks = torch.arange(nb, device=q.device)
        allowed = self.pattern(blocks, blocks, nb, causal)  # (nb, nb)
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
    max_len: int = 65536  # the longest sequence (the random pattern is drawn for this many blocks)


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
                                self._layer, c.max_len)  # fmt: skip
