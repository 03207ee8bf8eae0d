"""Size matching: `model.params=200k` picks the d_model that brings the whole task model (embedding, backbone,
head) closest to the target, and fails unless it lands within 5%, so comparisons are fair by construction."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import count_params

TOLERANCE = 0.05


def _count(build: Callable[[Any], nn.Module], model_cfg: Any) -> int:
    """Parameters of a probe model. Probes at tiny widths may hold empty layers (an adaptive softmax's tail at
    width 4 projects to 4 // 16 = 0 units); torch warns about those, but the probe is thrown away."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return count_params(build(model_cfg))


def width_step(model_cfg: Any) -> int:
    """d_model must be a multiple of this (attention heads; two directions)."""
    step = 1
    if getattr(model_cfg, "num_heads", None):
        step = math.lcm(step, model_cfg.num_heads)
    if getattr(model_cfg, "positions", None) == "rope":  # rotary pairs: an even width per head
        step = math.lcm(step, 2 * model_cfg.num_heads)
    if getattr(model_cfg, "bidirectional", False):
        step = math.lcm(step, 2)
    return step


def has_width(model_cfg: Any) -> bool:
    return any(f.name == "d_model" for f in fields(model_cfg)) and any(f.name == "params" for f in fields(model_cfg))


def match_width(model_cfg: Any, build: Callable[[Any], nn.Module], target: int, max_width: int = 8192) -> Any:
    """Return model_cfg with the d_model whose built model has the parameter count nearest `target`."""
    step = width_step(model_cfg)

    def size(width: int) -> int:
        return _count(build, replace(model_cfg, d_model=width))

    lo, hi = 1, 1  # search over multiples k * step; grow hi by doubling so no model far above target is built
    while size(hi * step) < target:
        lo, hi = hi + 1, hi * 2
        if hi * step > max_width:
            raise ConfigError(f"model.params={target:,} is beyond model '{model_cfg.name}' at d_model={max_width}")
    while lo < hi:  # smallest k with size >= target (size grows with width)
        mid = (lo + hi) // 2
        if size(mid * step) >= target:
            hi = mid
        else:
            lo = mid + 1
    options = [k * step for k in (lo - 1, lo) if k >= 1]
    best = min(options, key=lambda w: abs(size(w) - target))
    got = size(best)
    if abs(got - target) > TOLERANCE * target and getattr(model_cfg, "d_ff", 0) is None:
        return _match_ff(model_cfg, build, target, options)
    if abs(got - target) > TOLERANCE * target:
        raise ConfigError(
            f"model '{model_cfg.name}' cannot be sized to {target:,} parameters within 5% (nearest: {got:,} at "
            f"d_model={best}); change model.params or model.num_layers"
        )
    return replace(model_cfg, d_model=best)


def _match_ff(model_cfg: Any, build: Callable[[Any], nn.Module], target: int, widths: list[int]) -> Any:
    """Widths come in steps too coarse for the target: also set the feed-forward width (left at None by the user)."""
    best, best_gap = model_cfg, math.inf
    for width in widths:
        lo, hi = 1, 16 * width
        while lo < hi:  # smallest d_ff whose model reaches the target
            mid = (lo + hi) // 2
            if _count(build, replace(model_cfg, d_model=width, d_ff=mid)) >= target:
                hi = mid
            else:
                lo = mid + 1
        for ff in {max(lo - 1, 1), lo}:
            candidate = replace(model_cfg, d_model=width, d_ff=ff)
            gap = abs(_count(build, candidate) - target)
            if gap < best_gap:
                best, best_gap = candidate, gap
    if best_gap > TOLERANCE * target:
        raise ConfigError(
            f"model '{model_cfg.name}' cannot be sized to {target:,} parameters within 5%; change model.params or "
            f"model.num_layers"
        )
    return best


def solve_width(cfg: Any, build: Callable[[Any], nn.Module]) -> Any:
    """The run config with model.d_model solved for model.params, which then becomes None: a resolved config
    builds the same model again without solving (the run records the target in run.json)."""
    model_cfg = cfg.model
    if not (has_width(model_cfg) and model_cfg.params):
        return cfg
    solved = match_width(model_cfg, lambda m: build(replace(cfg, model=m)), model_cfg.params)
    return replace(cfg, model=replace(solved, params=None))
