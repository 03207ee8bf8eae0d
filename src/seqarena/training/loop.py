"""The only training loop. Read top to bottom: per epoch, seed -> shuffle -> steps -> validate -> early stop ->
checkpoint. Every epoch's randomness derives from (seed, epoch), so a run resumed from its last checkpoint
continues exactly as the uninterrupted run would have."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from seqarena.config import TrainConfig
from seqarena.errors import SeqarenaError
from seqarena.files import atomic_write_text, dumps
from seqarena.training import distributed, recipes
from seqarena.training.checkpoint import load_checkpoint, save_checkpoint
from seqarena.training.optim import build_optimizer, lr_factor, set_lr
from seqarena.training.precision import autocast_context


class TrainableTask(Protocol):
    """What the loop needs of a task (tasks/base.py has the whole contract). Without a validation split
    (`validates` False) the training loss selects the epoch."""

    validates: bool

    def n_train(self) -> int: ...
    def train_batches(self, batch_size: int, generator: torch.Generator) -> Any: ...
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]: ...


class TrainingDivergedError(SeqarenaError):
    pass


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % (2**63 - 1)


def _to_device(batch: Any, device: torch.device) -> Any:
    if device.type == "cpu":
        return batch
    return tuple(t.to(device, non_blocking=True) for t in batch)


def fit(
    task: TrainableTask,
    model: nn.Module,
    cfg: TrainConfig,
    run_dir: Path,
    device: torch.device,
    precision: str,
    eval_batch: int,
    log: Callable[[str], None],
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    world: distributed.World = distributed.SINGLE,
) -> dict[str, Any]:
    """Train `model` in place; return the final train state (history, best epoch, timings). `on_epoch` gets each
    epoch's record (the experiment trackers). Under torchrun (`world`) each rank trains on its share of every batch
    and rank 0 alone writes (training/distributed.py)."""
    optimizer = build_optimizer(model, cfg)
    steps_per_epoch = math.ceil(task.n_train() / cfg.batch_size)
    total_steps = min(cfg.max_steps or 1 << 62, steps_per_epoch * cfg.max_epochs)
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "best_val": math.inf,
        "best_epoch": -1,
        "bad_epochs": 0,
        "plateau_factor": 1.0,
        "plateau_best": math.inf,
        "stopped": False,
        "history": [],
        "train_seconds": 0.0,
        "time_to_best": 0.0,
    }
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    restored = load_checkpoint(run_dir / "checkpoint", model, optimizer)
    if restored is not None:
        state, best = restored
        log(f"resumed from the checkpoint after epoch {state['epoch']} (step {state['step']})")
    bar = _Progress(cfg.progress and sys.stdout.isatty() and world.main, steps_per_epoch)
    penalised = recipes.penalised(model)  # looked up once, not every step
    validates = task.validates
    while state["epoch"] < cfg.max_epochs and not state["stopped"] and state["step"] < total_steps:
        epoch = state["epoch"]
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        generator = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
        model.train()
        for group in recipes.unfreeze(model, cfg, epoch):  # progressive unfreezing (train.unfreeze)
            log(f"epoch {epoch + 1}: unfreezing {group}")
        started, loss_sum, seen, lr = time.perf_counter(), torch.zeros((), dtype=torch.float64), 0, cfg.lr
        bar.start(epoch + 1, cfg.max_epochs)
        for batch in task.train_batches(cfg.batch_size, generator):
            batch, weight = distributed.shard(_to_device(batch, device), world)
            batch = recipes.curriculum(task, batch, cfg, state["step"])  # train.length_warmup
            n = len(batch[0])
            factor = lr_factor(
                cfg, state["step"], epoch, total_steps, state["plateau_factor"], _time_used(cfg, state, started)
            )
            lr = set_lr(optimizer, cfg.lr, factor)
            optimizer.zero_grad(set_to_none=True)
            if n:
                with autocast_context(device, precision):
                    loss = task.loss(model, batch)
                    extra = recipes.penalty(model) if penalised else None  # model.cell_l2: gradient only
                objective = loss if extra is None else loss + extra
                (objective * weight if world.active else objective).backward()
            else:  # a rank whose share of a short last batch is empty sends zero gradients
                loss = torch.zeros(())
            distributed.average_gradients(model, world)
            if cfg.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            optimizer.step()
            loss_sum += loss.detach().double().cpu() * n
            seen += n
            state["step"] += 1
            bar.advance()
            if state["step"] >= total_steps or _out_of_time(cfg, state, started):
                break
        seconds = time.perf_counter() - started
        total, seen = distributed.all_sum([float(loss_sum), float(seen)], world)
        train_loss, seen = total / max(seen, 1), int(seen)
        if not math.isfinite(train_loss):
            again = (
                f"; or continue from the checkpoint of epoch {epoch} with a lower rate: --resume --allow-change "
                f"train.lr --set train.lr=..."
                if epoch
                else ""
            )
            raise TrainingDivergedError(
                f"training diverged (loss {train_loss}) in epoch {epoch + 1}; lower train.lr or set train.clip_norm"
                + again
            )
        val = task.evaluate(model, "val", eval_batch, device) if validates else {}
        state["train_seconds"] += seconds
        record = {
            "epoch": epoch + 1,
            "step": state["step"],
            "train_loss": train_loss,
            **{f"val_{k}": v for k, v in val.items() if isinstance(v, float)},
            "lr": lr,
            "seconds": round(seconds, 4),
            "samples_per_s": round(seen / max(seconds, 1e-9), 2),
            "threads": torch.get_num_threads(),
        }
        _update_stopping(state, cfg, val["loss"] if validates else train_loss, model, best)
        if cfg.max_seconds is not None and state["train_seconds"] >= cfg.max_seconds:
            state["stopped"] = True
        state["history"].append(record)
        state["epoch"] = epoch + 1
        bar.stop()
        if not world.main:
            continue
        log(_epoch_line(record, cfg.max_epochs))
        save_checkpoint(run_dir / "checkpoint", model, optimizer, best, state)
        _write_metrics(run_dir / "metrics.jsonl", state["history"])
        if on_epoch is not None:
            on_epoch(record)
    model.load_state_dict(best)
    return state


def _time_used(cfg: TrainConfig, state: dict[str, Any], epoch_started: float) -> float:
    """The share of train.max_seconds spent so far (0 without a time budget)."""
    if cfg.max_seconds is None:
        return 0.0
    return (state["train_seconds"] + time.perf_counter() - epoch_started) / max(cfg.max_seconds, 1e-9)


def _out_of_time(cfg: TrainConfig, state: dict[str, Any], epoch_started: float) -> bool:
    return _time_used(cfg, state, epoch_started) >= 1.0


def _update_stopping(
    state: dict[str, Any], cfg: TrainConfig, val_loss: float, model: nn.Module, best: dict[str, torch.Tensor]
) -> None:
    if val_loss < state["best_val"]:
        state.update(
            best_val=val_loss, best_epoch=state["epoch"] + 1, bad_epochs=0, time_to_best=state["train_seconds"]
        )
        for k, v in model.state_dict().items():
            best[k] = v.detach().clone()
    else:
        state["bad_epochs"] += 1
        if cfg.patience is not None and state["bad_epochs"] >= cfg.patience:
            state["stopped"] = True
    if val_loss < state["plateau_best"]:
        state["plateau_best"] = val_loss
    elif cfg.schedule == "plateau":
        state["plateau_factor"] *= cfg.gamma


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in history))


def short_training_note(n_train: int, tc: TrainConfig) -> str | None:
    """A note when a small training set gets so few optimizer steps that the model cannot have learned much (the
    defaults suit thousands of windows; 40 UCR cases make 2 batches an epoch)."""
    steps_per_epoch = math.ceil(n_train / tc.batch_size)
    total = min(tc.max_steps or 1 << 62, steps_per_epoch * tc.max_epochs)
    if total >= 100 or tc.max_seconds is not None:
        return None
    hint = "raise train.max_epochs (e.g. --set train.max_epochs=300"
    hint += ", and --set train.patience=null or a larger patience)" if tc.patience is not None else ")"
    return (
        f"note: only {total} optimizer steps in total ({n_train} training cases, batch {tc.batch_size}, "
        f"{tc.max_epochs} epochs); {hint} or lower train.batch_size"
    )


def _epoch_line(r: dict[str, Any], max_epochs: int) -> str:
    val = f"val_loss {r['val_loss']:.4f}  " if "val_loss" in r else ""
    return (
        f"epoch {r['epoch']}/{max_epochs}  train_loss {r['train_loss']:.4f}  {val}"
        f"lr {r['lr']:.2e}  {r['seconds']:.1f}s  {r['samples_per_s']:.0f} samples/s"
    )


class _Progress:
    """A rich progress bar for a terminal; nothing otherwise (per-epoch lines are logged either way)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self.bar, self.task = enabled, total, None, None

    def start(self, epoch: int, max_epochs: int) -> None:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(f"epoch {epoch}/{max_epochs}", total=self.total)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


__all__ = ["fit", "TrainingDivergedError", "epoch_seed", "short_training_note"]
