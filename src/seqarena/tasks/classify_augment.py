"""Training augmentation for numeric sequences (seeded, vectorised over a right-padded batch, padding kept at zero)
and the first-difference channels of `task.derivative`."""

from __future__ import annotations

import numpy as np
import torch


def time_warp(
    x: torch.Tensor, mask: torch.Tensor, strength: float, generator: torch.Generator, knots: int = 4
) -> torch.Tensor:
    """Resample each sequence of a right-padded batch (B, T, C) along a smooth random time warp.

    The local speed is exp of a piecewise-linear curve through `knots` N(0, strength^2) values; the warped clock
    is its running sum rescaled so the first and last valid steps map to themselves, and each output step linearly
    interpolates the input at its warped position. Padding (mask False) stays zero.
    """
    b, t, _ = x.shape
    if t < 2:
        return x
    last = (mask.sum(1) - 1).clamp_min(0)  # (B,) index of the last valid step
    span = last.clamp_min(1).to(x.dtype)  # (B,) valid intervals
    log_speed = strength * torch.randn(b, knots, generator=generator).to(x.dtype)  # (B, K)
    u = (torch.arange(t - 1, dtype=x.dtype)[None, :] + 0.5) / span[:, None]  # (B, T-1) interval centre in [0, 1]
    at = u.clamp(0, 1) * (knots - 1)
    lo = at.floor().long().clamp(max=knots - 2)  # (B, T-1)
    frac = at - lo
    curve = log_speed.gather(1, lo) * (1 - frac) + log_speed.gather(1, lo + 1) * frac  # (B, T-1)
    valid = torch.arange(t - 1)[None, :] < last[:, None]  # (B, T-1) intervals inside the sequence
    speed = curve.exp() * valid
    clock = torch.cat([speed.new_zeros(b, 1), speed.cumsum(1)], 1)  # (B, T)
    total = clock.gather(1, last[:, None]).clamp_min(1e-6)  # (B, 1)
    pos = (clock / total * span[:, None]).clamp(max=span[:, None])  # (B, T) warped positions in [0, L-1]
    i0 = pos.floor().long()
    i1 = torch.minimum(i0 + 1, last[:, None])
    w = (pos - i0).unsqueeze(-1)  # (B, T, 1)
    left = x.gather(1, i0.unsqueeze(-1).expand_as(x))  # (B, T, C)
    right = x.gather(1, i1.unsqueeze(-1).expand_as(x))
    out = left * (1 - w) + right * w
    return out * mask.unsqueeze(-1)


def with_derivative(seq: np.ndarray) -> np.ndarray:
    """(T, C) -> (T, 2C): the values and their first differences (0 at the first step)."""
    return np.concatenate([seq, np.diff(seq, axis=0, prepend=seq[:1])], axis=1)
