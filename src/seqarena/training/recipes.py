"""Training recipes around the loop: warm start from another run's weights (`train.init`), progressive unfreezing
(`train.unfreeze`: parameter groups frozen at first and unfrozen one after another, top layers first as ULMFiT
does, every `train.unfreeze_every` epochs), a length curriculum (`train.length_warmup`: short sequences first,
growing linearly to full length, the sequence-length warm-up of Li et al., 2022), knowledge distillation
(`train.teacher`, training/distill.py) and structured pruning of the warm start (`train.prune`, training/prune.py).
`prepare` checks them all before a run directory is written and says what run.json records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from seqarena.config import TrainConfig
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.training import distill
from seqarena.training.prune import prune


def prepare(
    task: Any, model: nn.Module, cfg: TrainConfig, device: torch.device, load: Callable[[Path], Any]
) -> tuple[Any, dict[str, Any], Any]:
    """(what the loop trains: the task, or it with a teacher's term; what run.json records of the recipes; the
    model config after pruning, or None when it stands)."""
    info: dict[str, Any] = {"teacher": distill.describe(cfg)}
    if cfg.prune and cfg.init is None:
        raise ConfigError(f"train.prune={cfg.prune} prunes a trained model: give train.init=RUN_DIR, the run to prune")
    if cfg.init is not None:
        info["init"] = warm_start(model, Path(cfg.init).expanduser())
    model_cfg = None
    if cfg.prune:
        model_cfg, info["prune"] = prune(model, cfg.prune)
    names = [n for n, _ in model.named_parameters()]
    for prefix in cfg.unfreeze:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            tops = sorted({".".join(n.split(".")[:3]) for n in names})
            raise ConfigError(f"train.unfreeze prefix '{prefix}' matches no parameter (e.g. {', '.join(tops[:8])})")
    if cfg.unfreeze:
        info["unfreeze"] = {"groups": list(cfg.unfreeze), "every_epochs": cfg.unfreeze_every}
    if cfg.length_warmup:
        why = task.why_no_curriculum()
        if why is not None:
            raise ConfigError(f"train.length_warmup={cfg.length_warmup}: {why}")
        info["length_warmup"] = {"steps": cfg.length_warmup, "start": cfg.length_start}
    return distill.wrap(task, cfg, device, load), info, model_cfg


def warm_start(model: nn.Module, run_dir: Path) -> dict[str, Any]:
    """Copy every tensor of run_dir/model.safetensors whose name and shape match this model's; refuse when they
    hold under half of this model's values (another architecture or width). What stayed fresh is listed."""
    path = run_dir / "model.safetensors"
    if not path.is_file():
        raise SeqarenaError(f"train.init={run_dir} is not a finished run (no model.safetensors)")
    own = model.state_dict()
    loaded, skipped = [], []
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = set(f.keys())
            with torch.no_grad():
                for name, tensor in own.items():
                    if name in stored and tuple(f.get_slice(name).get_shape()) == tuple(tensor.shape):
                        tensor.copy_(f.get_tensor(name))
                        loaded.append(name)
                    else:
                        skipped.append(name)
    except SafetensorError as exc:
        raise SeqarenaError(f"{path} is not readable safetensors ({exc}); train that run again") from None
    share = sum(own[n].numel() for n in loaded) / max(sum(t.numel() for t in own.values()), 1)
    if share < 0.5:
        raise ConfigError(f"train.init={run_dir}: its weights fit only {share:.0%} of this model's values; give a run "
                          f"of the same model and width")  # fmt: skip
    return {"run_dir": str(run_dir.resolve()), "loaded": len(loaded), "share": round(share, 4), "left_fresh": skipped}


def unfreeze(model: nn.Module, cfg: TrainConfig, epoch: int) -> list[str]:
    """Set which parameters train in `epoch` (0-based): group i of train.unfreeze stays frozen until epoch
    (i + 1) * unfreeze_every; unlisted parameters always train. Returns the groups that thaw at this epoch."""
    if not cfg.unfreeze:
        return []
    thawed = []
    for i, prefix in enumerate(cfg.unfreeze):
        live = epoch >= (i + 1) * cfg.unfreeze_every
        if epoch == (i + 1) * cfg.unfreeze_every:
            thawed.append(prefix)
        for name, p in model.named_parameters():
            if name == prefix or name.startswith(prefix + "."):
                p.requires_grad_(live)
    return thawed


def curriculum(task: Any, batch: tuple[torch.Tensor, ...], cfg: TrainConfig, step: int) -> tuple[torch.Tensor, ...]:
    """The batch cut to this step's length under train.length_warmup (the whole batch once warm-up is over)."""
    if not cfg.length_warmup or step >= cfg.length_warmup:
        return batch
    full = task.sequence_length(batch)
    length = min(full, max(1, int(cfg.length_start + (full - cfg.length_start) * step / cfg.length_warmup)))
    return task.shorten(batch, length) if length < full else batch


def penalised(model: nn.Module) -> bool:
    """Whether any module of the model computes a regulariser in training (its `penalises` is true)."""
    return any(getattr(m, "penalises", False) for m in model.modules())


def penalty(model: nn.Module) -> torch.Tensor | None:
    """The regularisers the model's modules computed in this training forward (`penalty` attributes, e.g. an LSTM's
    model.cell_l2), summed and cleared; None when there are none. Added to the loss for the gradient only."""
    found = []
    for module in model.modules():
        value = module.__dict__.pop("penalty", None)
        if value is not None:
            found.append(value)
    return torch.stack(found).sum() if found else None
