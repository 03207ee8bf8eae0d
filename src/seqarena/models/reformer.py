"""Reformer-style LSH attention (Kitaev et al., 2020) in the shared Transformer block: queries and keys share one
projection, angular locality-sensitive hashing (random rotations into `buckets` buckets) puts similar vectors in the
same bucket, the sequence is sorted by bucket (then time) and each query attends to the keys of its own bucket at
most `bucket_size` places from it in that order (before it, when causal), computed in chunks of `bucket_size` with
their neighbours. `n_hashes` rounds are combined by their softmax normalisers. Time and memory grow as
T * bucket_size instead of T^2.

Windows counted within a bucket, not fixed chunk boundaries, keep a causal model strictly causal (what a query sees
depends on earlier tokens of its bucket only) and padding without effect (padding hashes to a bucket of its own).
The rotations are drawn from a seed (the layer's index), not per call, so training and evaluation are
reproducible and a loaded model hashes as it did. A token attends to itself only when nothing else
in its bucket may be seen (shared queries and keys would otherwise prefer themselves). Not stateful: a causal LSH
model generates by re-reading its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.attention import Cache
from seqarena.models.base import Capabilities, State
from seqarena.models.transformer import Transformer, TransformerConfig
from seqarena.ranges import at_least, opt
from seqarena.registry import register_model

SELF = -1e4  # the score of a token's own key: used only when it has no other key
HIDDEN = -1e9  # the score of a key a query may not see (finite: ONNX Runtime's reductions then agree with eager)


class LSHAttention(nn.Module):
    def __init__(
        self, d_model: int, num_heads: int, dropout: float, bucket_size: int, n_buckets: int, n_hashes: int, seed: int
    ) -> None:
        super().__init__()
        self.n_buckets = n_buckets
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.qk, self.v, self.out = (
            nn.Linear(d_model, d_model),
            nn.Linear(d_model, d_model),
            nn.Linear(d_model, d_model),
        )
        self.dropout, self.bucket_size, self.n_hashes = dropout, bucket_size, n_hashes
        gen = torch.Generator().manual_seed(seed)  # the layer's fixed random rotations, rebuilt identically on load
        rotations = torch.randn(self.head_dim, n_hashes, n_buckets // 2, generator=gen)  # (hd, R, n / 2)
        self.register_buffer("rotations", rotations, persistent=False)

    def empty(self, batch: int, device: torch.device | None) -> Cache:
        z = torch.zeros(batch, self.num_heads, 0, self.head_dim, device=device)
        return z, z.clone()

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        if cache is not None:
            raise TypeError("LSH attention cannot continue from a cache")
        B, T, D = x.shape
        h, d, c, R = self.num_heads, self.head_dim, self.bucket_size, self.n_hashes
        qk = self.qk(x).view(B, T, h, d).transpose(1, 2)  # (B, h, T, d)
        v = self.v(x).view(B, T, h, d).transpose(1, 2)
        rotated = torch.einsum("bhtd,dre->bhrte", qk.detach(), self.rotations)  # (B, h, R, T, n / 2)
        buckets = torch.cat([rotated, -rotated], dim=-1).argmax(-1)  # (B, h, R, T)
        if key_mask is not None:  # padding goes to a bucket of its own, after every real one
            buckets = buckets.masked_fill(~key_mask[:, None, None, :], self.n_buckets)
        order = torch.sort(buckets * T + torch.arange(T, device=x.device), dim=-1).indices  # by bucket, then time
        pad = -T % c
        nc = (T + pad) // c
        sq = F.pad(_gather(qk, order), (0, 0, 0, pad)).view(B, h, R, nc, c, d)  # sorted, in chunks
        sv = F.pad(_gather(v, order), (0, 0, 0, pad)).view(B, h, R, nc, c, d)
        sk = F.normalize(sq, dim=-1)  # shared QK: keys are the unit-length queries
        sb = F.pad(torch.gather(buckets, -1, order), (0, pad), value=-1).view(B, h, R, nc, c)
        rank = torch.arange(nc * c, device=x.device).view(nc, c)  # the sorted index
        kk, kv, kb, kr = (_neighbours(t, causal) for t in (sk, sv, sb, rank))  # (..., nc, 2c or 3c[, d])
        scores = (sq @ kk.transpose(-1, -2)) * d**-0.5  # (B, h, R, nc, c, 2c or 3c)
        gap = rank[:, :, None] - kr[:, None, :]  # (nc, c, K): how many sorted places the key lies before
        near = (gap >= 0) & (gap <= c) if causal else gap.abs() <= c
        allowed = (kb[..., None, :] == sb[..., :, None]) & near & (kb[..., None, :] >= 0)
        own = gap == 0
        scores = scores.masked_fill(~allowed | own, HIDDEN).masked_fill(own, SELF)
        lse = torch.logsumexp(scores, dim=-1, keepdim=True)  # (B, h, R, nc, c, 1)
        weights = torch.exp(scores - lse)
        if self.training and self.dropout:
            weights = F.dropout(weights, self.dropout)
        out = (weights @ kv).view(B, h, R, nc * c, d)[..., :T, :]  # (B, h, R, T, d) sorted
        lse = lse.view(B, h, R, nc * c)[..., :T]
        undo = torch.argsort(order, dim=-1)  # back to time order
        out, lse = _gather(out, undo), torch.gather(lse, -1, undo)  # (B, h, R, T, d), (B, h, R, T)
        y = (torch.softmax(lse, dim=2).unsqueeze(-1) * out).sum(2)  # the rounds weighted by their normalisers
        return self.out(y.transpose(1, 2).reshape(B, T, D)), self.empty(B, x.device)


def _gather(t: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(B, h, T, d) or (B, h, R, T, d) rows picked by (B, h, R, T) indices -> (B, h, R, T, d)."""
    if t.dim() == 4:
        t = t.unsqueeze(2).expand(-1, -1, order.shape[2], -1, -1)
    return torch.gather(t, 3, order.unsqueeze(-1).expand(*order.shape, t.shape[-1]))


def _neighbours(t: torch.Tensor, causal: bool) -> torch.Tensor:
    """Chunks (..., nc, c[, d]) -> each chunk with the one before it (and, when not causal, the one after):
    (..., nc, 2c or 3c[, d]); beyond the ends, filler (-1 for integers, zeros) that the masks exclude."""
    dim = -3 if t.dtype.is_floating_point else -2
    fill = 0 if t.dtype.is_floating_point else -1
    n = t.shape[dim]
    widths = [0, 0] * (-dim - 1) + [1, 1]
    padded = F.pad(t, widths, value=fill)  # one filler chunk at each end
    parts = [padded.narrow(dim, 0, n), t] + ([] if causal else [padded.narrow(dim, 2, n)])
    return torch.cat(parts, dim=dim + 1)


@dataclass(kw_only=True)
class ReformerConfig(TransformerConfig):
    name: str = "lsh_attention"
    bucket_size: int = opt(32, at_least(1))  # a query sees the keys of its bucket within this many places of it
    # in bucket order (before it, when causal): the cost grows as T * bucket_size
    buckets: int = opt(8, at_least(2))  # hash buckets per round (even): more buckets, sharper locality
    n_hashes: int = opt(2, at_least(1))  # hashing rounds (more: closer to full attention, proportionally slower)


@register_model("lsh_attention")
class Reformer(Transformer):
    """LSH attention (shared QK, angular hashing, attention within buckets) in the shared Transformer block."""

    Config = ReformerConfig

    def mixer(self) -> nn.Module:
        c = self.cfg
        self._layer = getattr(self, "_layer", -1) + 1  # each layer its own rotations
        if c.bucket_size < 1 or c.n_hashes < 1 or c.buckets < 2 or c.buckets % 2:
            raise ConfigError("model.bucket_size and model.n_hashes must be >= 1, model.buckets even and >= 2")
        return LSHAttention(c.d_model, c.num_heads, c.dropout, c.bucket_size, c.buckets, c.n_hashes, self._layer)

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        c = cfg.causal
        return Capabilities(family="attention", causal=c, bidirectional=not c, stateful=False, masks=True)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        raise TypeError("model 'lsh_attention' is not stateful: it cannot be stepped through time")

    def forward(
        self, x: torch.Tensor, state: State | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State | None]:
        if state is not None:
            raise TypeError("model 'lsh_attention' is not stateful: it cannot continue from a state")
        y, _ = super().forward(x, None, mask)
        return y, None
