"""Training defaults that adapt to the data: `train.batch_size`, `max_epochs`, `warmup_steps` and `patience` are
"auto" unless given, and resolve from the number of training examples per epoch (the task's n_train()):

| training examples | batch | epochs                                 | warm-up       | early stopping          |
|------------------:|------:|----------------------------------------|---------------|-------------------------|
| 500 or more       | 32    | 10                                     | none          | patience 3              |
| 100 to 499        | 16    | enough for 2,000 steps (10 to 300)     | 1/15 of steps | off: best val epoch kept|
| under 100         | 8     | enough for 2,000 steps (at most 300)   | 1/15 of steps | off: best val epoch kept|

Large data keeps the settings that suit thousands of windows; a small set (a UCR archive's 50 cases) would get two
batches an epoch and 20 optimizer steps, so it gets small batches, many epochs, a warm-up, and no early stopping
on a validation split too small to judge a few epochs by (the epoch of lowest validation loss is still the one
kept). The resolved values go to config.yaml; an explicit value is never changed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from seqarena.config import RunConfig, TrainConfig

AUTO = "auto"
LARGE, MEDIUM = 500, 100
TARGET_STEPS, MAX_EPOCHS = 2000, 300
KEYS = ("batch_size", "max_epochs", "warmup_steps", "patience")


def choose(n_train: int, batch: int | None = None) -> dict[str, Any]:
    """The table above for `n_train` training examples (with `batch`: epochs and warm-up for that batch size)."""
    if n_train >= LARGE:
        return {"batch_size": batch or 32, "max_epochs": 10, "warmup_steps": 0, "patience": 3}
    batch = batch or (16 if n_train >= MEDIUM else 8)
    epochs = min(max(math.ceil(TARGET_STEPS / _steps_per_epoch(n_train, batch)), 10), MAX_EPOCHS)
    warmup = _warmup(n_train, batch, epochs)
    return {"batch_size": batch, "max_epochs": epochs, "warmup_steps": warmup, "patience": None}


def _steps_per_epoch(n_train: int, batch: int) -> int:
    return max(math.ceil(n_train / batch), 1)


def _warmup(n_train: int, batch: int, epochs: int, max_steps: int | None = None) -> int:
    """1/15 of the optimizer steps in force on a small set; none on a large one."""
    if n_train >= LARGE:
        return 0
    return min(_steps_per_epoch(n_train, batch) * epochs, max_steps or 1 << 62) // 15


def adapt(cfg: RunConfig, n_train: int, validates: bool = True) -> tuple[RunConfig, str | None]:
    """`cfg` with every "auto" training option resolved for `n_train` examples, and a line saying what was chosen
    (None when nothing was auto). The warm-up follows the batch size and epochs in force, chosen or given. Without
    a validation split (`validates` False) there is nothing to stop early on: an auto patience is off."""
    tc = cfg.train
    auto = [k for k in KEYS if getattr(tc, k) == AUTO]
    if not auto:
        return cfg, None
    picked = choose(n_train, None if tc.batch_size == AUTO else tc.batch_size)
    batch = picked["batch_size"] if tc.batch_size == AUTO else tc.batch_size
    epochs = picked["max_epochs"] if tc.max_epochs == AUTO else tc.max_epochs
    picked["warmup_steps"] = _warmup(n_train, batch, epochs, tc.max_steps)
    if not validates:
        picked["patience"] = None
    chosen = {k: picked[k] for k in auto}
    words = ", ".join(f"{k}={'null' if v is None else v}" for k, v in chosen.items())
    note = f"defaults for {n_train:,} training examples: {words} (set any train.* option to override)"
    return replace(cfg, train=replace(tc, **chosen)), note


def keep_resolved(given: TrainConfig, saved: TrainConfig) -> TrainConfig:
    """`given` with each option still "auto" set to the value a run's saved config resolved it to, so a resumed
    run keeps its batch, warm-up and patience even when an allowed change (more epochs) would resolve them anew."""
    return replace(given, **{k: getattr(saved, k) for k in KEYS if getattr(given, k) == AUTO})
