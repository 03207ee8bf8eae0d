"""Knowledge distillation (`train.teacher=RUN_DIR`): the model trains on its task's loss and on matching a finished
teacher run's outputs, (1 - alpha) * loss + alpha * match. Class logits are matched by the KL divergence of the
temperature-softened distributions, scaled by T^2 (Hinton et al., 2015), a translation's per target token
(word-level distillation, Kim & Rush, 2016); point forecasts by squared error. The
teacher must have been trained on the same values (run.json's values_sha256), so a batch means the same to both;
it runs in eval mode without gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import TrainConfig, load_yaml
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.files import read_json


class Distilled:
    """The task as the training loop sees it, with the teacher's term added to its loss."""

    def __init__(self, task: Any, teacher: nn.Module, cfg: TrainConfig) -> None:
        self.task, self.teacher = task, teacher.eval()
        self.alpha, self.temperature = cfg.distill_alpha, cfg.distill_temperature
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def __getattr__(self, name: str) -> Any:  # everything else is the task's
        return getattr(self.task, name)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        student = self.task.distill_outputs(model, batch)
        with torch.no_grad():
            teacher = self.task.distill_outputs(self.teacher, batch)
        match = matching_loss(student.outputs, teacher.outputs.to(student.outputs.dtype), student.kind,
                              self.temperature, student.mask)  # fmt: skip
        return (1 - self.alpha) * student.loss + self.alpha * match


def matching_loss(
    student: torch.Tensor, teacher: torch.Tensor, kind: str, temperature: float, mask: torch.Tensor | None
) -> torch.Tensor:
    """Mean over the outputs that count: T^2 KL(teacher_T || student_T) per row of logits, or squared error."""
    if kind == "logits":
        T = temperature
        per = F.kl_div(F.log_softmax(student / T, -1), F.log_softmax(teacher / T, -1), log_target=True,
                       reduction="none").sum(-1) * T**2  # (...)  # fmt: skip
    else:
        per = (student - teacher).pow(2)
    if mask is None:
        return per.mean()
    m = mask.to(per.dtype)
    while m.dim() < per.dim():
        m = m.unsqueeze(-1)
    return (per * m).sum() / (m.expand_as(per).sum()).clamp_min(1)


def wrap(task: Any, cfg: TrainConfig, device: torch.device, load: Callable[[Path], Any]) -> Any:
    """`task` itself, or with train.teacher the task with its teacher's term: the teacher run loaded by `load`
    (seqarena.run.load) and checked against the task."""
    if cfg.teacher is None:
        return task
    why = task.why_no_distillation()
    if why is not None:
        raise ConfigError(f"train.teacher={cfg.teacher}: {why}")
    teacher_dir = Path(cfg.teacher).expanduser()
    run = load(teacher_dir)
    if run.config.task.name != task.cfg.task.name:
        raise ConfigError(f"train.teacher={cfg.teacher} is a {run.config.task.name} run; this run is "
                          f"{task.cfg.task.name}: distil between runs of one task")  # fmt: skip
    seen = read_json(teacher_dir / "run.json").get("data", {}).get("values_sha256")
    if seen != task.values_checksum():
        raise ConfigError(
            f"train.teacher={cfg.teacher} was trained on other values (data or preprocessing differ: values_sha256 "
            f"{str(seen)[:12]}... against {task.values_checksum()[:12]}...); train the teacher on the same data"
        )
    why = task.why_not_teacher(run.artifacts)
    if why is not None:
        raise ConfigError(f"train.teacher={cfg.teacher}: {why}")
    return Distilled(task, run.model.to(device), cfg)


def describe(cfg: TrainConfig) -> dict[str, Any] | None:
    """What run.json records of the teacher."""
    if cfg.teacher is None:
        return None
    path = Path(cfg.teacher).expanduser()
    try:
        info = read_json(path / "run.json")
        model = (load_yaml(path / "config.yaml").get("model") or {}).get("name")
    except (OSError, ValueError, SeqarenaError):
        raise SeqarenaError(f"train.teacher={cfg.teacher} is not a finished run (no readable run.json)") from None
    return {"run_dir": str(path.resolve()), "model": model, "params": info.get("params"),
            "alpha": cfg.distill_alpha, "temperature": cfg.distill_temperature}  # fmt: skip
