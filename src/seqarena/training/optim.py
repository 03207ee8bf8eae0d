"""Optimizers with layer-wise learning rates and weight decay on matrices only; warmup + decay schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from seqarena.config import TrainConfig, refuse_unless_default
from seqarena.errors import ConfigError


def check_options(cfg: TrainConfig) -> None:
    """Refuse options that the chosen optimizer or schedule would ignore."""
    if cfg.optimizer != "sgd":
        refuse_unless_default(cfg, "train.momentum", "it is SGD's; set train.optimizer=sgd or remove it")
    if cfg.optimizer != "adamw":
        refuse_unless_default(cfg, "train.beta2", "it is AdamW's; set train.optimizer=adamw or remove it")
    if cfg.schedule != "cosine":
        refuse_unless_default(cfg, "train.min_lr_ratio", "it is the floor of train.schedule=cosine")
    if cfg.schedule != "step":
        refuse_unless_default(cfg, "train.step_epochs", "it paces train.schedule=step")
    if cfg.schedule not in ("step", "plateau"):
        refuse_unless_default(cfg, "train.gamma", "it is the decay of train.schedule=step or plateau")
    if not cfg.unfreeze:
        refuse_unless_default(cfg, "train.unfreeze_every", "it paces train.unfreeze; list the groups to unfreeze")
    if cfg.teacher is None:
        for key in ("train.distill_alpha", "train.distill_temperature"):
            refuse_unless_default(cfg, key, "it weighs distillation; give train.teacher=RUN_DIR")


def _multiplier(name: str, lr_mult: dict[str, float]) -> float:
    matches = [p for p in lr_mult if name == p or name.startswith(p + ".")]
    return lr_mult[max(matches, key=len)] if matches else 1.0


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Groups by (lr multiplier, decay?): weight decay applies to weight matrices, never to biases or norms."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for prefix in cfg.lr_mult:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            tops = sorted({n.split(".")[0] for n in names} | {".".join(n.split(".")[:2]) for n in names})
            raise ConfigError(f"train.lr_mult prefix '{prefix}' matches no parameter (prefixes: {', '.join(tops)})")
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            key = (_multiplier(name, cfg.lr_mult), param.ndim >= 2)
            groups.setdefault(key, []).append(param)
    param_groups = [
        {"params": ps, "lr": cfg.lr * mult, "lr_mult": mult, "weight_decay": cfg.weight_decay if decay else 0.0}
        for (mult, decay), ps in sorted(groups.items())
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=cfg.lr, momentum=cfg.momentum)
    params = [p for g in param_groups for p in g["params"]]
    device_ok = all(p.device.type in ("cpu", "cuda") and p.dtype == torch.float32 for p in params)
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=device_ok or None)


def lr_factor(
    cfg: TrainConfig, step: int, epoch: int, total_steps: int, plateau_factor: float, time_used: float = 0.0
) -> float:
    """The schedule's multiplier of train.lr at optimizer step `step` (0-based) of epoch `epoch`.

    With a time budget (train.max_seconds), the cosine follows whichever runs out first, steps or time:
    `time_used` is the share of the budget spent, so a slow model still anneals before its time is up."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(total_steps - cfg.warmup_steps, 1)
        progress = min(max(max(step - cfg.warmup_steps, 0) / span, time_used), 1.0)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.gamma ** (epoch // max(cfg.step_epochs, 1))
    if cfg.schedule == "plateau":
        return plateau_factor
    return 1.0


def set_lr(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * group["lr_mult"] * factor
    return base_lr * factor
