"""What a forecaster outputs per step and channel (task.distribution): a point, a set of quantiles (pinball loss),
or the parameters of a normal or Student-t distribution (negative log-likelihood); and the quantiles each implies.

Shapes: a point forecaster gives (B, H, C); the others (B, H, C, K) with K the quantile count or the distribution's
parameter count (normal: loc, scale; student_t: loc, scale, df)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seqarena.errors import ConfigError

PARAMS = {"normal": 2, "student_t": 3}
MIN_SCALE = 1e-4


def n_outputs(distribution: str, quantiles: Sequence[float]) -> int:
    return len(quantiles) if distribution == "quantile" else PARAMS.get(distribution, 1)


def check_quantiles(quantiles: Sequence[float], distribution: str) -> list[float]:
    """Sorted, distinct, each strictly between 0 and 1; a quantile head needs the median (its point forecast)."""
    bad = [q for q in quantiles if not isinstance(q, (int, float)) or not 0 < q < 1]
    if bad or not quantiles:
        raise ConfigError(
            f"task.quantiles must be numbers strictly between 0 and 1 (got {bad or list(quantiles)}), "
            f"e.g. [0.1, 0.5, 0.9]"
        )
    qs = sorted({round(float(q), 6) for q in quantiles})
    if distribution == "quantile" and 0.5 not in qs:
        raise ConfigError(f"task.quantiles {qs} lacks 0.5: a quantile forecaster's point forecast is its median")
    return qs


def levels(quantiles: Sequence[float]) -> list[int]:
    """Central interval levels in percent from symmetric pairs: [0.1, 0.5, 0.9] -> [80]."""
    qs = [round(q, 6) for q in quantiles]
    return sorted({round(100 * (1 - 2 * q)) for q in qs if q < 0.5 and round(1 - q, 6) in qs}, reverse=True)


def finish(raw: torch.Tensor, distribution: str) -> torch.Tensor:
    """Raw head outputs (B, H, C, K) -> parameters in scaled units: a positive scale, df > 2 (a finite variance)."""
    if distribution in PARAMS:
        scale = F.softplus(raw[..., 1:2]) + MIN_SCALE
        rest = [2 + F.softplus(raw[..., 2:3])] if distribution == "student_t" else []
        return torch.cat([raw[..., :1], scale, *rest], dim=-1)
    return raw


def restore(params: torch.Tensor, distribution: str, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Undo a window normalisation (mean, std: (B, 1, C)): locations and quantiles shift and scale, scales scale."""
    mean, std = mean.unsqueeze(-1), std.unsqueeze(-1)  # (B, 1, C, 1)
    if distribution == "quantile":
        return params * std + mean
    loc, scale = params[..., :1] * std + mean, params[..., 1:2] * std
    return torch.cat([loc, scale, params[..., 2:]], dim=-1)


def loss(out: torch.Tensor, y: torch.Tensor, distribution: str, quantiles: Sequence[float]) -> torch.Tensor:
    if distribution == "point":
        return F.mse_loss(out, y)
    if distribution == "quantile":
        return pinball(out, y, torch.tensor(quantiles, dtype=out.dtype)).mean()
    loc, scale = out[..., 0], out[..., 1]
    if distribution == "normal":
        return -torch.distributions.Normal(loc, scale).log_prob(y).mean()
    return -torch.distributions.StudentT(out[..., 2], loc, scale).log_prob(y).mean()


def pinball(q_pred: torch.Tensor, y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(B, H, C, Q) quantile predictions, (B, H, C) targets -> (B, H, C, Q) pinball losses."""
    diff = y.unsqueeze(-1) - q_pred
    return torch.maximum(q * diff, (q - 1) * diff)


def point(out: torch.Tensor, distribution: str, quantiles: Sequence[float]) -> torch.Tensor:
    """The point forecast (B, H, C): the output itself, the median quantile, or the distribution's location."""
    if distribution == "point":
        return out
    if distribution == "quantile":
        return out[..., list(quantiles).index(0.5)]
    return out[..., 0]


def quantiles_of(out: torch.Tensor, distribution: str, quantiles: Sequence[float]) -> torch.Tensor:
    """(B, H, C, Q) quantiles in increasing order (a quantile head's crossings sorted away)."""
    q = torch.tensor(quantiles, dtype=out.dtype)
    if distribution == "quantile":
        return out.sort(dim=-1).values
    loc, scale = out[..., :1], out[..., 1:2]
    z = math.sqrt(2) * torch.special.erfinv(2 * q - 1)  # standard normal quantiles (Q,)
    if distribution == "normal":
        return loc + scale * z
    return loc + scale * t_quantile(z, out[..., 2:3])


def t_quantile(z: torch.Tensor, df: torch.Tensor) -> torch.Tensor:
    """Student-t quantiles from normal ones (the Cornish-Fisher expansion of Abramowitz & Stegun 26.7.5, four terms;
    within 0.2% of the exact value for df >= 2 up to the 97.5% quantile)."""
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def window_scale(x: torch.Tensor, out_idx: list[int]) -> torch.Tensor:
    """(B, L, C_in) scaled inputs -> (B, 1, C_out): how much each output channel moves inside the window (its
    standard deviation, plus 1% of the training one), the local scale conformal intervals follow."""
    return x[..., out_idx].std(dim=1, keepdim=True) + 0.01


def conformal_offsets(abs_residuals: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """Split-conformal half-widths per quantile, step and channel from validation scores (N, H, C), |residual| /
    window_scale (normalised conformal prediction, Lei et al. 2018: intervals widen in volatile windows): the
    central interval of level 1 - 2q (q < 0.5) is the point forecast -/+ window_scale times the
    ceil((N + 1)(1 - 2q))/N empirical quantile of the scores. Returns (Q, H, C) signed multiples of window_scale."""
    n = abs_residuals.shape[0]
    ordered = abs_residuals.sort(dim=0).values  # (N, H, C)
    offsets = []
    for q in quantiles:
        coverage = abs(1 - 2 * q)
        rank = min(math.ceil((n + 1) * coverage), n)  # the finite-sample correction; capped at the largest
        half = ordered[rank - 1] if rank > 0 else torch.zeros_like(ordered[0])
        offsets.append(-half if q < 0.5 else half if q > 0.5 else torch.zeros_like(half))
    return torch.stack(offsets)  # (Q, H, C)


def interval_scores(q_pred: torch.Tensor, y: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """Conformalized quantile regression's scores (Romano et al., 2019): per central interval, how far the target
    lies outside it (negative inside). (b, H, C, Q) quantiles, (b, H, C) targets -> (b, H, C, levels)."""
    out = []
    for level in levels(quantiles):
        lo = q_pred[..., list(quantiles).index(round((1 - level / 100) / 2, 6))]
        hi = q_pred[..., list(quantiles).index(round(1 - (1 - level / 100) / 2, 6))]
        out.append(torch.maximum(lo - y, y - hi))
    return torch.stack(out, dim=-1)


def cqr_offsets(scores: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """(N, H, C, levels) validation scores -> (Q, H, C) offsets: each interval's ends move out by the
    ceil((N + 1) level)/N empirical quantile of its scores; the median and unpaired quantiles stay."""
    n = scores.shape[0]
    ordered = scores.sort(dim=0).values
    offsets = torch.zeros(len(quantiles), *scores.shape[1:3], dtype=scores.dtype)
    for i, level in enumerate(levels(quantiles)):
        rank = min(math.ceil((n + 1) * level / 100), n)
        shift = ordered[rank - 1, ..., i]  # (H, C)
        offsets[list(quantiles).index(round((1 - level / 100) / 2, 6))] = -shift
        offsets[list(quantiles).index(round(1 - (1 - level / 100) / 2, 6))] = shift
    return offsets
