"""Sequence classification: labelled sequences of any length -> a class, with accuracy, macro-F1, per-class
precision/recall and the confusion matrix. Validation is carved from the training cases (stratified, seeded by
task.split_seed), so model selection never looks at test."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.labelled import PAD, SPLITS, LabelledSet, assign_splits, load_labelled
from seqarena.errors import ConfigError, DataError
from seqarena.registry import get_model
from seqarena.sizing import has_width, match_width
from seqarena.tasks.classify_metrics import classification_metrics
from seqarena.tasks.classify_model import ClassifyModel

DEFAULT_SHARES = [0.8, 0.1, 0.1]


class ClassifyTask:
    def __init__(self, cfg: RunConfig) -> None:
        tc = cfg.task
        if datasets.is_path(tc.data) or tc.data.endswith((".parquet", ".tsv", ".ts")):
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        _check_options(tc)
        data = load_labelled(tc.data, tc.label, tc.id_column)
        self.cfg, self.data, self.notes = cfg, data, []
        self.tokens = data.vocab is not None
        seqs = [s[: tc.max_length] for s in data.seqs] if tc.max_length else data.seqs
        if not self.tokens:
            for i, s in enumerate(seqs):
                if np.isnan(s).any():
                    raise DataError(f"{data.name}: case {i + 1} has missing values (NaN); fill or drop them first")
            if tc.derivative:
                seqs = [with_derivative(s) for s in seqs]
        elif tc.derivative:
            raise ConfigError("task.derivative applies to numeric sequences, not characters")
        self.channels = data.channels + ([f"d_{c}" for c in data.channels] if tc.derivative else [])
        shares = tc.split or DEFAULT_SHARES
        idx = assign_splits(data.labels, data.official, tc.val_fraction, shares, tc.split_seed, tc.folds, tc.fold)
        if tc.max_train and len(idx["train"]) > tc.max_train:
            keep = np.random.default_rng(tc.split_seed).permutation(len(idx["train"]))[: tc.max_train]
            idx["train"] = np.sort(idx["train"][keep])
        self.validates = tc.val_fraction > 0 or tc.folds is not None or data.official is None
        for split in SPLITS if self.validates else ("train", "test"):
            if not len(idx[split]):
                raise DataError(
                    f"{data.name}: the {split} split is empty ({len(seqs)} cases); give more data or change "
                    f"task.val_fraction / task.split"
                )
        labels = np.array(data.labels)
        self.classes = _sorted_labels(set(labels[idx["train"]]))
        if len(self.classes) < 2:
            raise DataError(f"{data.name}: the training split has only one class ({self.classes[0]!r})")
        unseen = sorted(set(labels[np.concatenate([idx["val"], idx["test"]])]) - set(self.classes))
        if unseen:
            self.notes.append(
                f"warning: class(es) {', '.join(map(repr, unseen[:5]))} appear only in val/test, never in training; "
                f"their cases count as errors"
            )
        index = {c: i for i, c in enumerate(self.classes)}
        self.idx = idx
        self.y = {s: torch.tensor([index.get(lab, -1) for lab in labels[idx[s]]]) for s in SPLITS}
        train_steps = np.concatenate([seqs[i] for i in idx["train"]]) if not self.tokens else None
        self.mean, self.std = _channel_stats(train_steps, tc.scale, len(self.channels))
        self.x = {s: [self._prepare(seqs[i]) for i in idx[s]] for s in SPLITS}
        lengths = [len(s) for s in seqs]
        self.length_range = (min(lengths), max(lengths))
        self.data_sha256 = data.sha256
        cfg.model = self.sized(cfg.model)
        if not self.validates and cfg.train.patience is not None:
            raise ConfigError(
                "task.val_fraction=0 leaves no validation split to stop early on; add --set train.patience=null "
                "(the epoch with the lowest training loss is kept)"
            )

    def _prepare(self, seq: np.ndarray) -> torch.Tensor:
        if self.tokens:
            return torch.from_numpy(seq)  # (T,) token ids
        return torch.from_numpy((seq - self.mean) / self.std).float()  # (T, C)

    def values_checksum(self) -> str:
        digest = hashlib.sha256()
        for x in self.x["train"]:
            digest.update(x.numpy().tobytes())
        return digest.hexdigest()

    def vocab_size(self) -> int | None:
        return len(self.data.vocab) + 2 if self.data.vocab is not None else None

    def sized(self, model_cfg: Any) -> Any:
        if not (has_width(model_cfg) and model_cfg.params):
            return model_cfg
        return match_width(model_cfg, lambda m: self._make(replace(self.cfg, model=m)), model_cfg.params)

    def _make(self, cfg: RunConfig) -> ClassifyModel:
        return make_model(cfg, len(self.channels), len(self.classes), self.vocab_size())

    def check_model(self, model_cfg: Any) -> None:
        self._make(replace(self.cfg, model=self.sized(model_cfg)))

    def build_model(self) -> ClassifyModel:
        return self._make(self.cfg)

    def n_train(self) -> int:
        return len(self.x["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.x["train"]), generator=generator)
        for i in range(0, len(order), batch_size):
            take = order[i : i + batch_size].tolist()
            x, mask = collate([self.x["train"][j] for j in take])
            if not self.tokens:
                x = self._augment(x, mask, generator)
            yield x, mask, self.y["train"][take]

    def _augment(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Seeded time warping, scaling and jitter of a training batch (B, T, C); padding stays zero."""
        tc = self.cfg.task
        if tc.time_warp > 0:
            x = time_warp(x, mask, tc.time_warp, generator)
        if tc.scaling > 0:
            x = x * (1 + tc.scaling * torch.randn(len(x), 1, 1, generator=generator))
        if tc.jitter > 0:
            x = x + tc.jitter * torch.randn(x.shape, generator=generator) * mask.unsqueeze(-1)
        return x

    @staticmethod
    def loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, mask, y = batch
        return F.cross_entropy(model(x, mask), y, ignore_index=-1)

    @torch.inference_mode()
    def predict_proba(self, model: nn.Module, xs: list[torch.Tensor], batch_size: int, device: torch.device):
        was_training = model.training
        model.eval()
        out = []
        for i in range(0, len(xs), batch_size):
            x, mask = collate(xs[i : i + batch_size])
            out.append(torch.softmax(model(x.to(device), mask.to(device)).float(), -1).cpu())
        model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, len(self.classes))

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        if not len(self.x[split]):
            raise ConfigError(f"the {split} split is empty (task.val_fraction=0 trains on every training case)")
        probs = self.predict_proba(model, self.x[split], batch_size, device)  # (N, K)
        majority = int(torch.bincount(self.y["train"], minlength=len(self.classes)).argmax())
        baseline = float((self.y[split] == majority).double().mean())  # always predict the commonest class
        return {**classification_metrics(probs, self.y[split], self.classes), "majority_accuracy": baseline}

    def artifacts(self) -> dict[str, Any]:
        tc = self.cfg.task
        return {
            "classes": self.classes,
            "channels": self.channels,
            "derivative": tc.derivative,
            "vocab": self.data.vocab,
            "mean": None if self.tokens else self.mean.tolist(),
            "std": None if self.tokens else self.std.tolist(),
            "pooling": tc.pooling,
            "max_length": tc.max_length,
            "label": tc.label or "label",
            "id_column": tc.id_column,
            "lengths": list(self.length_range),
            "splits": {s: len(self.x[s]) for s in SPLITS},
            "official_split": self.data.official is not None,
        }

    def write_artifacts(self, run_dir: Path) -> None:
        from seqarena.training.checkpoint import write_json

        write_json(run_dir / "task.json", self.artifacts())

    @classmethod
    def for_run(cls, cfg: RunConfig, run_dir: Path) -> ClassifyTask:
        return cls(cfg)

    @staticmethod
    def load_model(cfg: RunConfig, run_dir: Path) -> tuple[ClassifyModel, dict[str, Any]]:
        art = json.loads((run_dir / "task.json").read_text())
        vocab = len(art["vocab"]) + 2 if art["vocab"] is not None else None
        return make_model(cfg, len(art["channels"]), len(art["classes"]), vocab), art


def collate(xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a list of (T_i, C) or (T_i,) tensors: (B, T_max, C) or (B, T_max), and the (B, T_max) mask."""
    lengths = torch.tensor([len(x) for x in xs])
    x = nn.utils.rnn.pad_sequence(xs, batch_first=True, padding_value=PAD)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x, mask


def make_model(cfg: RunConfig, in_dim: int, n_classes: int, vocab_size: int | None) -> ClassifyModel:
    cls = get_model(cfg.model.name)
    if cls.kind != "backbone":
        raise ConfigError(f"model '{cfg.model.name}' is a {cls.kind}; classification needs a sequence backbone")
    net = cls(cfg.model)
    cap = net.capabilities()
    if not cap.causal and not cap.masks:
        raise ConfigError(
            f"model '{cfg.model.name}' is not causal and cannot mask padding, so it cannot classify variable-length "
            f"batches"
        )
    return ClassifyModel(net, in_dim, n_classes, cfg.task.pooling, vocab_size, cfg.task.patch)


def _check_options(tc: Any) -> None:
    if not 0.0 <= tc.val_fraction < 1.0:
        raise ConfigError(f"task.val_fraction={tc.val_fraction} must be in [0, 1) (e.g. 0.2; 0: no validation)")
    if tc.split is not None and (len(tc.split) != 3 or any(s <= 0 for s in tc.split) or abs(sum(tc.split) - 1) > 1e-6):
        raise ConfigError(f"task.split={tc.split} must be three positive shares summing to 1 (train, val, test)")
    if tc.folds is not None and (tc.folds < 2 or not 0 <= tc.fold < tc.folds):
        raise ConfigError(f"task.folds={tc.folds}, task.fold={tc.fold}: need folds >= 2 and 0 <= fold < folds")
    if tc.jitter < 0 or tc.scaling < 0 or tc.time_warp < 0:
        raise ConfigError("task.jitter, task.scaling and task.time_warp must be >= 0 (0: no augmentation)")
    for key in ("max_length", "max_train", "patch"):
        value = getattr(tc, key)
        if value is not None and value < 1:
            raise ConfigError(f"task.{key}={value} must be >= 1")


def _sorted_labels(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order (1, 2, 10), others alphabetically."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _channel_stats(steps: np.ndarray | None, scale: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    if steps is None or scale == "none":
        return np.zeros(channels, np.float32), np.ones(channels, np.float32)
    mean = steps.mean(0).astype(np.float32)
    std = steps.std(0).astype(np.float32)
    return mean, np.where(std > 1e-8, std, 1.0).astype(np.float32)


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


def prepare_inputs(seqs: list[np.ndarray], art: dict[str, Any]) -> list[torch.Tensor]:
    """New sequences as a finished run saw its training data (truncated, derivatives added, scaled)."""
    limit = art["max_length"]
    if art["vocab"] is not None:
        return [torch.from_numpy(s[:limit] if limit else s) for s in seqs]
    mean, std = np.array(art["mean"], np.float32), np.array(art["std"], np.float32)
    out = []
    for s in seqs:
        s = s[:limit] if limit else s
        s = with_derivative(s) if art.get("derivative") else s
        if s.shape[1] != len(mean):
            raise DataError(f"sequences have {s.shape[1]} channels; the run was trained on {len(mean)}")
        out.append(torch.from_numpy((s - mean) / std).float())
    return out


__all__ = ["ClassifyTask", "LabelledSet", "collate", "prepare_inputs"]
