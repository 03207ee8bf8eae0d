"""Relative position schemes applied inside attention: rotary embeddings (RoPE, Su et al. 2021) rotate queries and
keys by their absolute position so that q.k depends on the distance; ALiBi (Press et al. 2022) adds a per-head
linear penalty on the distance to the attention scores. Neither adds anything to the input, and neither has a
longest length, which is what lets them be evaluated beyond the training length."""

from __future__ import annotations

import math

import torch

ROPE_BASE = 10000.0


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x: (B, h, T, hd) at positions (T,) -> the same, rotated pairwise (the halves of hd as pairs)."""
    half = x.shape[-1] // 2
    inv_freq = ROPE_BASE ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)  # (hd/2,)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def alibi_slopes(heads: int) -> torch.Tensor:
    """The paper's geometric slopes 2^(-8 i / n); for a head count that is not a power of two, those of the nearest
    power below and every other one of the power above."""

    def powers(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(heads).is_integer():
        return torch.tensor(powers(heads))
    low = 2 ** math.floor(math.log2(heads))
    return torch.tensor(powers(low) + powers(2 * low)[0::2][: heads - low])


def alibi_bias(slopes: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor, causal: bool) -> torch.Tensor:
    """(h,) slopes, (T,) query and (K,) key positions -> (h, T, K) additive biases: -slope * distance (only the
    past counts when causal; the mask removes the future)."""
    dist = q_pos[:, None] - k_pos[None, :]  # (T, K)
    dist = dist.clamp(min=0) if causal else dist.abs()
    return -slopes.to(q_pos.device)[:, None, None] * dist[None].float()
