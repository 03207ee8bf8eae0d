"""Checkpoints without pickle: weights and optimizer tensors in safetensors, everything else in JSON.

Each epoch is written to its own folder, then `latest.json` is atomically switched to it, so a kill at any
moment leaves either the old or the new checkpoint, never a mix."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from seqarena.errors import SeqarenaError
from seqarena.files import read_json, readable, write_json


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, slots in sd["state"].items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().contiguous().cpu()
            elif value is not None:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        idx, key = flat.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(
    root: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    best: dict[str, torch.Tensor],
    train_state: dict[str, Any],
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{train_state['epoch']:05d}"
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    save_model(model, str(folder / "model.safetensors"))
    tensors, meta = optimizer_tensors(optimizer)
    save_file(tensors, str(folder / "optimizer.safetensors"))
    save_file({k: v.contiguous() for k, v in best.items()}, str(folder / "best.safetensors"))
    for weights in ("model", "optimizer", "best"):
        readable(folder / f"{weights}.safetensors")
    write_json(folder / "state.json", {**train_state, "optimizer": meta})
    write_json(root / "latest.json", {"folder": name})
    for old in root.glob("epoch-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def verify(root: Path) -> Path | None:
    """The folder of the checkpoint `latest.json` points to, every file of it readable; None without a checkpoint.
    A damaged checkpoint is a one-line error naming what is wrong and the fix."""
    pointer = root / "latest.json"
    if not pointer.is_file():
        return None
    damaged, fix = (
        f"the checkpoint in {root} is damaged",
        f"delete {root} (or the whole run) and train without --resume",
    )
    try:
        name = read_json(pointer)["folder"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SeqarenaError(f"{damaged} ({pointer.name} is not valid); {fix}") from None
    if not isinstance(name, str) or not re.fullmatch(r"epoch-\d{5}", name) or not (root / name).is_dir():
        raise SeqarenaError(f"{damaged} ({pointer.name} points to {name!r}, not a checkpoint folder of it); {fix}")
    folder = root / name
    try:
        for part in ("model", "optimizer", "best"):
            with safe_open(str(folder / f"{part}.safetensors"), framework="pt") as fh:
                list(fh.keys())
        state = read_json(folder / "state.json")
        if not isinstance(state, dict) or "optimizer" not in state or "epoch" not in state:
            raise ValueError("state.json lacks the loop state")
    except (OSError, ValueError, SafetensorError) as exc:
        raise SeqarenaError(f"{damaged} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); {fix}") from None
    return folder


def load_checkpoint(
    root: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore model and optimizer in place; return (train state, best weights), or None without a checkpoint."""
    folder = verify(root)
    if folder is None:
        return None
    try:
        load_model(model, str(folder / "model.safetensors"))
        state = read_json(folder / "state.json")
        load_optimizer(optimizer, load_file(str(folder / "optimizer.safetensors")), state.pop("optimizer"))
        return state, load_file(str(folder / "best.safetensors"))
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        raise SeqarenaError(
            f"the checkpoint in {root} does not fit the run ({type(exc).__name__}: {str(exc).splitlines()[0][:120]});"
            f" delete {root} and train without --resume"
        ) from None
