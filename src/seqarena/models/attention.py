"""Attention mixers for the shared Transformer block: full softmax, sliding-window (local) with optional global
tokens, and kernelised linear attention. Each takes (B, T, D) at absolute positions pos..pos+T-1 with a cache of
two tensors and returns (y, new cache):

- softmax: cache = all past keys/values (B, h, P, hd); memory grows with the sequence.
- local: cache = the first `global_tokens` keys plus the last `window - 1`; constant size.
- linear: cache = S (B, h, hd, hd) = sum of phi(k) v^T and z (B, h, hd) = sum of phi(k); constant size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.models.base import tracing
from seqarena.models.kernels import attention as fused
from seqarena.models.kernels import native
from seqarena.models.positions import alibi_bias, alibi_slopes, rotate

Cache = tuple[torch.Tensor, torch.Tensor]


class _Heads(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, D = x.shape
        # split on the last dim, then view per head: the backward concatenates three gradients instead of
        # zero-filling and scattering into a (3, B, h, T, hd) buffer (about 5% of a training step at width 256)
        q, k, v = self.qkv(x).split(D, dim=-1)  # (B, T, D) each
        return tuple(t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, h, T, hd)

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(B, T, -1))  # (B, T, D)

    def empty(self, batch: int, device: torch.device | None) -> Cache:
        z = torch.zeros(batch, self.num_heads, 0, self.head_dim, device=device)
        return z, z.clone()


class SoftmaxAttention(_Heads):
    """Full softmax attention; `positions` "rope" rotates queries and keys, "alibi" biases the scores by distance
    (models/positions.py); anything else leaves positions to the input."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, positions: str = "none") -> None:
        super().__init__(d_model, num_heads, dropout)
        self.positions = positions
        if positions == "alibi":
            self.register_buffer("slopes", alibi_slopes(num_heads), persistent=False)

    def fused_here(self, x: torch.Tensor, causal: bool, cache: Cache | None, key_mask: torch.Tensor | None) -> bool:
        """Whether this call runs attention.cpp: a whole sequence (no cache, no mask) in fp32 on the CPU with no
        attention dropout or rotary/ALiBi positions, at lengths where it measured faster than SDPA's kernel."""
        plain = cache is None and key_mask is None and self.positions not in ("rope", "alibi")
        no_drop = self.dropout == 0.0 or not self.training
        short = x.shape[1] <= (fused.CAUSAL_MAX_T if causal else fused.FULL_MAX_T)
        return plain and no_drop and short and x.shape[1] > 0 and native.usable("attention", x)

    def describe_kernel(self, device: torch.device) -> str:
        """Which attention training on `device` uses (run.json records it)."""
        if device.type != "cpu" or self.positions in ("rope", "alibi") or self.dropout > 0:
            return "torch scaled_dot_product_attention"
        limits = f"up to {fused.CAUSAL_MAX_T} steps causal, {fused.FULL_MAX_T} bidirectional; SDPA beyond"
        return native.describe("attention", f"seqarena C++ attention ({limits})", "torch scaled_dot_product_attention")

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        T = x.shape[1]
        if self.fused_here(x, causal, cache, key_mask):
            qkv = self.qkv(x)  # (B, T, 3D)
            y = fused.attention(qkv, self.num_heads, causal)  # (B, T, D)
            k, v = (t.view(*x.shape[:2], self.num_heads, self.head_dim).transpose(1, 2) for t in qkv.chunk(3, -1)[1:])
            return self.out(y), (k, v)  # the cache: keys and values (B, h, T, hd)
        q, k, v = self.split(x)
        past = 0 if cache is None else cache[0].shape[2]
        if self.positions == "rope":  # cached keys were rotated when they were new
            q_pos = torch.arange(past, past + T, device=x.device)
            q, k = rotate(q, q_pos), rotate(k, q_pos)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, past + T, hd)
        exporting = tracing()  # a traced graph may not branch on a variable length
        mask, is_causal = None, causal and (exporting or T > 1)
        if is_causal and (exporting or past > 0 or self.positions == "alibi"):  # bottom-right aligned causal mask
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            is_causal = False
        if key_mask is not None:  # (B, T) valid keys of a whole sequence (no cache) -> (B, 1, T, T)
            base = torch.ones(T, T, dtype=torch.bool, device=x.device)
            allowed = mask if mask is not None else (base.tril() if is_causal else base)
            mask, is_causal = key_mask[:, None, None, :] & allowed, False
        if self.positions == "alibi":  # (h, T, past + T) biases, -inf where the mask forbids
            q_pos = torch.arange(past, past + T, device=x.device)
            bias = alibi_bias(self.slopes, q_pos, torch.arange(past + T, device=x.device), causal).to(q.dtype)
            mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=is_causal)
        return self.merge(y), (k, v)


class LocalAttention(_Heads):
    """Each query sees keys within `window` steps (before it, or on both sides when not causal) and the first
    `global_tokens` positions; global tokens see everything they may (Longformer/BigBird style)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, window: int, global_tokens: int) -> None:
        super().__init__(d_model, num_heads, dropout)
        self.window, self.global_tokens = window, global_tokens

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        q, k, v = self.split(x)
        T, g = x.shape[1], self.global_tokens
        traced = tracing()  # ONNX: the dense mask (same result; no unfold, no data-dependent cache size)
        if not traced and key_mask is None and cache is None and pos == 0 and 2 * self.window < T:  # O(T * window)
            keep = (torch.arange(T, device=x.device) < g) | (torch.arange(T, device=x.device) > T - self.window)
            return self.merge(self._blocked(q, k, v, causal)), (k[:, :, keep], v[:, :, keep])
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        cached = k.shape[2] - T
        n_global = min(g, pos, cached)  # the cache holds the global keys first, then the most recent ones
        key_pos = torch.cat([torch.arange(n_global), torch.arange(pos - (cached - n_global), pos + T)]).to(x.device)
        q_pos = torch.arange(pos, pos + T, device=x.device)
        diff = q_pos[:, None] - key_pos[None, :]  # (T, K)
        near = diff.abs() < self.window if not causal else (diff >= 0) & (diff < self.window)
        glob = key_pos[None, :] < g
        if not causal:
            glob = glob | (q_pos[:, None] < g)
        mask = near | (glob & (diff >= 0) if causal else glob)
        if key_mask is not None:  # padded keys of a variable-length batch (dense: (B, 1, T, T))
            mask = mask & key_mask[:, None, None, :]
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        # what a later query (position >= pos + T) may still see: the global keys and the last window - 1 keys
        if traced and cache is None:  # a whole-window graph: the cache is not an output
            return self.merge(y), (k, v)
        keep = (key_pos < g) | (key_pos > pos + T - self.window)
        return self.merge(y), (k[:, :, keep], v[:, :, keep])

    def _blocked(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        """Queries in blocks of `window`; block c sees keys [cW - W, cW + W) (+ W more when not causal) plus the
        global keys, so time and memory grow linearly with T. Same result as the dense mask."""
        B, h, T, d = q.shape
        W, g = self.window, min(self.global_tokens, T)
        nb = -(-T // W)
        pad = nb * W - T
        left, right = W, (0 if causal else W)
        span = W + left + right
        qb = F.pad(q, (0, 0, 0, pad)).view(B, h, nb, W, d)
        kb = F.pad(k, (0, 0, left, pad + right)).unfold(2, span, W).transpose(-1, -2)  # (B, h, nb, span, d)
        vb = F.pad(v, (0, 0, left, pad + right)).unfold(2, span, W).transpose(-1, -2)
        dev = q.device
        q_pos = (torch.arange(nb, device=dev)[:, None] * W + torch.arange(W, device=dev))[:, :, None]  # (nb, W, 1)
        k_pos = (torch.arange(nb, device=dev)[:, None] * W - left + torch.arange(span, device=dev))[:, None, :]
        diff = q_pos - k_pos  # (nb, W, span)
        mask = ((diff >= 0) & (diff < W)) if causal else (diff.abs() < W)
        mask = mask & (k_pos >= g) & (k_pos < T)  # global keys come once, from the global part below
        if g:
            g_pos = torch.arange(g, device=dev)[None, None, :]
            g_mask = (q_pos >= g_pos) if causal else torch.ones_like(q_pos >= g_pos)
            kb = torch.cat([k[:, :, None, :g].expand(B, h, nb, g, d), kb], dim=3)
            vb = torch.cat([v[:, :, None, :g].expand(B, h, nb, g, d), vb], dim=3)
            mask = torch.cat([g_mask.expand(nb, W, g), mask], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, dropout_p=drop)  # (B, h, nb, W, d)
        y = y.reshape(B, h, nb * W, d)[:, :, :T]
        if g and not causal:  # global queries attend to every position
            y = torch.cat([F.scaled_dot_product_attention(q[:, :, :g], k, v, dropout_p=drop), y[:, :, g:]], dim=2)
        return y


def _phi(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0  # a positive feature map (Katharopoulos et al., 2020)


class LinearAttention(_Heads):
    """softmax(q k^T) replaced by phi(q) phi(k)^T: causal training runs in chunks (quadratic inside a chunk, a
    carried state between chunks), so time is linear in T and `step()` keeps a constant-size state."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, chunk: int = 64) -> None:
        super().__init__(d_model, num_heads, dropout)
        self.chunk = chunk

    def empty(self, batch: int, device: torch.device | None) -> Cache:
        h, d = self.num_heads, self.head_dim
        return torch.zeros(batch, h, d, d, device=device), torch.zeros(batch, h, d, device=device)

    def forward(
        self, x: torch.Tensor, causal: bool, cache: Cache | None, pos: int, key_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Cache]:
        q, k, v = self.split(x)
        q, k = _phi(q), _phi(k)  # (B, h, T, hd)
        if key_mask is not None:  # a padded key adds nothing to any sum
            k = k * key_mask[:, None, :, None]
        if not causal:
            kv = k.transpose(2, 3) @ v  # (B, h, hd, hd)
            y = (q @ kv) / (q @ k.sum(2, keepdim=True).transpose(2, 3)).clamp_min(1e-6)
            return self.merge(y), (kv, k.sum(2))
        S, z = cache if cache is not None else self.empty(x.shape[0], x.device)
        outs = []
        for qc, kc, vc in zip(q.split(self.chunk, 2), k.split(self.chunk, 2), v.split(self.chunk, 2), strict=True):
            c = qc.shape[2]
            tri = torch.ones(c, c, dtype=torch.bool, device=x.device).tril()
            scores = (qc @ kc.transpose(2, 3)).masked_fill(~tri, 0.0)  # (B, h, c, c)
            num = scores @ vc + qc @ S  # (B, h, c, hd)
            den = scores.sum(-1, keepdim=True) + (qc @ z.unsqueeze(-1))  # (B, h, c, 1)
            outs.append(num / den.clamp_min(1e-6))
            S = S + kc.transpose(2, 3) @ vc
            z = z + kc.sum(2)
        return self.merge(torch.cat(outs, dim=2)), (S, z)
