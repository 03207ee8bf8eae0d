"""Data-parallel training under torchrun: `torchrun --nproc-per-node N -m seqarena train ...` (or `seqarena train
--nproc N`). Every rank draws the same shuffled global batch (the epoch's generator is seeded the same everywhere)
and trains on its contiguous share of the rows; gradients are averaged across ranks after each backward, each
rank's loss weighted by its share of the rows, so a step equals the one-process step on the whole batch up to float
rounding. Every rank evaluates the whole validation split (identical weights give identical numbers, so early
stopping agrees); rank 0 alone writes the run directory, its checkpoints and metrics. gloo on the CPU, NCCL on CUDA.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_env(device_type: str) -> World:
    """The torchrun world of this process (initialising the process group once), or the single-process world."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        atexit.register(dist.destroy_process_group)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def shard(batch: tuple[torch.Tensor, ...], world: World) -> tuple[tuple[torch.Tensor, ...], float]:
    """This rank's contiguous rows of a global batch, and the weight that makes the averaged gradient the global
    batch's: rows here * ranks / rows in all."""
    if not world.active:
        return batch, 1.0
    rows = len(batch[0])
    parts = tuple(t.tensor_split(world.size)[world.rank] if t.dim() and len(t) == rows else t for t in batch)
    return parts, len(parts[0]) * world.size / max(rows, 1)


def average_gradients(model: nn.Module, world: World) -> None:
    """All-reduce every gradient as one flat buffer, divided by the ranks (a parameter without a gradient on this
    rank counts as zeros, so every rank sends the same layout)."""
    if not world.active:
        return
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])  # (total parameters,)
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_sum(values: list[float], world: World) -> list[float]:
    """Sum floats across ranks (an epoch's loss total and sample count)."""
    if not world.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def device_for(device: torch.device, world: World) -> torch.device:
    """Each rank its own GPU (LOCAL_RANK) on CUDA; the CPU as it is."""
    if world.active and device.type == "cuda":
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def describe(world: World) -> dict[str, Any] | None:
    return {"world_size": world.size, "backend": world.backend} if world.active else None


__all__ = ["World", "SINGLE", "from_env", "shard", "average_gradients", "all_sum", "device_for", "cores"]
