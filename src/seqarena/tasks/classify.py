"""Sequence classification: labelled sequences of any length -> a class, with accuracy, macro-F1, per-class
precision/recall and the confusion matrix. Validation is carved from the training cases (stratified, seeded by
task.split_seed), so model selection never looks at test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.labelled import MAX_ABS32, LabelledSet, assign_splits, load_labelled
from seqarena.errors import ConfigError, DataError, SeqarenaError
from seqarena.ranges import FRACTION, NON_NEGATIVE, UNIT, at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import COST, LATENCY, Column, Distillable, Metric, Requires, Task
from seqarena.tasks.classify_augment import time_warp, with_derivative
from seqarena.tasks.classify_exits import ExitClassifier, exit_metrics, exits_loss
from seqarena.tasks.classify_metrics import classification_metrics
from seqarena.tasks.classify_model import ClassifyModel, collate

DEFAULT_SHARES = [0.8, 0.1, 0.1]
SMALL = 500  # training cases: below, the defaults regularise (max pooling, jitter 0.2 and scaling 0.1)


@dataclass(kw_only=True)
class ClassifyConfig:
    name: Literal["classify"] = "classify"
    data: str = "GunPoint"  # a UCR/UEA name, names, smnist/psmnist/smnist-rows, sfashion..., or a CSV/Parquet path
    label: str | None = None  # tables: the label column (default "label")
    id_column: str | None = None  # tables in long format: the column naming each row's sequence
    pooling: Literal["auto", "last", "mean", "max", "attention"] = "auto"  # (B, T, D) -> (B, D) over the valid
    # steps; auto: max for a small training set (under SMALL cases), else mean
    patch: int = opt(1, at_least(1))
    # feed groups of this many steps as one input vector (PatchTST-style); shortens long sequences
    derivative: bool = False  # add each channel's first differences as channels (shape changes stand out)
    jitter: float | Literal["auto"] = opt("auto", NON_NEGATIVE)  # auto: 0.2 (and scaling 0.1) for numeric
    # sequences with a small training set (under SMALL cases), else 0
    # training augmentation: add Gaussian noise of this std (in standardised units) to each step
    scaling: float | Literal["auto"] = opt("auto", NON_NEGATIVE)
    # training augmentation: multiply each training sequence by 1 + N(0, scaling^2)
    time_warp: float = opt(0.0, NON_NEGATIVE)
    # training augmentation: smoothly stretch and squeeze time; the std of the log local
    # speed at 4 knots (e.g. 0.2); the first and last valid steps stay in place
    val_fraction: float = opt(0.2, FRACTION)
    # official train/test splits: the share of training cases held out for validation;
    # 0: none, train on every training case and keep the epoch of lowest training loss (refit a chosen recipe)
    split: list[float] | None = opt(None, UNIT)  # no official split: train/val/test shares (default 0.8, 0.1, 0.1)
    split_seed: int = opt(0, NON_NEGATIVE)
    # the seed of the stratified split (kept apart from train.seed, so seeds share a split)
    folds: int | None = opt(None, at_least(2))
    # cross-validation: validate on fold `fold` of a stratified k-fold split of the
    fold: int = opt(0, NON_NEGATIVE)  # non-test cases instead of val_fraction (`seqarena cv` runs every fold)
    scale: Literal["standard", "none"] = "standard"  # standardise each channel with training statistics
    max_length: int | None = opt(None, at_least(1))  # keep at most this many steps of each sequence (the first ones)
    max_train: int | None = opt(None, at_least(1))
    # keep a seeded random subset of this many training cases (e.g. sequential MNIST)
    exits: bool = False  # early exit: a classifier after every backbone layer, trained on the mean of their losses
    exit_threshold: float = opt(0.9, UNIT)  # with exits: a sequence stops at the first exit this sure of its
    # class (top probability); 1: every layer


ERROR_RATE = Metric("error_rate", "test error rate", share=True)


@register_task("classify")
class ClassifyTask(Task):
    Config = ClassifyConfig
    requires = Requires(masks=True)
    metric = ERROR_RATE  # ranked on, lower is better; accuracy and macro-F1 are shown
    quality = (
        ERROR_RATE,
        Metric("accuracy", "test accuracy", True, share=True),
        Metric("macro_f1", "test macro-F1", True, share=True),
    )
    columns = (
        Column("test accuracy", "test_accuracy", 4, True),
        Column("test macro-F1", "test_macro_f1", 4, True),
        *COST,
        *LATENCY,
    )
    references = {
        "majority_accuracy": "always predicting the most frequent training class scores accuracy {value:.4f} on the "
        "same test cases."
    }
    sections = ("confusion",)
    loss_name = "cross-entropy"
    cv_metrics = ("accuracy", "loss", "macro_f1")
    baseline = ("accuracy", "majority_accuracy")

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        tc = cfg.task
        if datasets.is_path(tc.data) or tc.data.endswith((".parquet", ".tsv", ".ts")):
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        _check_options(tc)
        data = load_labelled(tc.data, tc.label, tc.id_column)
        self.data, self.notes = data, []
        self.tokens = data.vocab is not None
        seqs = [s[: tc.max_length] for s in data.seqs] if tc.max_length else data.seqs
        if not self.tokens:
            for i, s in enumerate(seqs):
                if np.isnan(s).any():
                    raise DataError(f"{data.name}: case {i + 1} has missing values (NaN); fill or drop them first")
                if not np.isfinite(s).all() or np.abs(s).max(initial=0) > MAX_ABS32:
                    raise DataError(f"{data.name}: case {i + 1} holds an infinite or overflowing value; fix it first")
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
        if train_steps is not None and len(train_steps) and (train_steps.std(0) <= 1e-8).any():
            still = [c for c, sd in zip(self.channels, train_steps.std(0), strict=True) if sd <= 1e-8]
            self.notes.append(f"note: {', '.join(still[:5])} never change in the training cases; they tell the model "
                              f"nothing")  # fmt: skip
        self.x = {s: [self._prepare(seqs[i]) for i in idx[s]] for s in SPLITS}
        lengths = [len(s) for s in seqs]
        self.length_range = (min(lengths), max(lengths))
        self.data_sha256 = data.sha256
        self.cfg = self.resolve(replace(cfg, task=tc))

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        held = f"{settings.get('val_fraction', 0):.0%} of the training cases held out for validation"
        return [
            f"Accuracy and macro-F1 are on the test cases (the official test split where the data has one); "
            f"{held} select each model's epoch; test never does. Pooling over time: {settings.get('pooling')}."
        ]

    def describe(self) -> dict[str, Any]:
        return {"samples": self.n_train(), "length": self.length_range[1], "channels": len(self.channels),
                "classes": len(self.classes)}  # fmt: skip

    def resolve(self, cfg: RunConfig) -> RunConfig:
        model_cls = get_model(cfg.model.name)
        self.check_model(model_cls, cfg.model)
        if not self.validates and cfg.train.patience not in (None, "auto"):
            raise ConfigError(
                "task.val_fraction=0 leaves no validation split to stop early on; add --set train.patience=null "
                "(the epoch with the lowest training loss is kept)"
            )
        return solve_width(replace(cfg, task=self._auto(cfg.task)), self.build_model)

    def _auto(self, tc: ClassifyConfig) -> ClassifyConfig:
        """The task's "auto" options for this training set: on a small one (a UCR archive's 50 cases) max pooling
        and light jitter and scaling generalise better (measured in docs/results/classification.md)."""
        small = len(self.idx["train"]) < SMALL
        augment = small and not self.tokens
        return replace(tc, pooling=("max" if small else "mean") if tc.pooling == "auto" else tc.pooling,
                       jitter=(0.2 if augment else 0.0) if tc.jitter == "auto" else tc.jitter,
                       scaling=(0.1 if augment else 0.0) if tc.scaling == "auto" else tc.scaling)  # fmt: skip

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

    def build_model(self, cfg: RunConfig) -> ClassifyModel:
        return make_model(cfg, len(self.channels), len(self.classes), self.vocab_size())

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> ClassifyModel:
        vocab = len(artifacts["vocab"]) + 2 if artifacts["vocab"] is not None else None
        return make_model(cfg, len(artifacts["channels"]), len(artifacts["classes"]), vocab)

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
        if isinstance(model, ExitClassifier):  # every exit learns
            return exits_loss(model, x, mask, y)
        return F.cross_entropy(model(x, mask), y, ignore_index=-1)

    def why_no_distillation(self) -> str | None:
        return None

    def distill_outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        x, mask, y = batch
        logits = model(x, mask)  # (B, K)
        return Distillable(F.cross_entropy(logits, y, ignore_index=-1), logits, "logits")

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
        always = float((self.y[split] == majority).double().mean())  # always predict the commonest class
        out = {**classification_metrics(probs, self.y[split], self.classes), "majority_accuracy": always}
        if isinstance(model, ExitClassifier):  # the depth each sequence ran, every exit's accuracy
            xs = self.x[split]
            out["exits"] = exit_metrics(model, [collate(xs[i : i + batch_size]) for i in range(0, len(xs), batch_size)],
                                        self.y[split], device)  # fmt: skip
        return out

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

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Latency of classifying real test sequences at batch 1 and 64 (median and p95)."""
        from seqarena.profile import batch_latencies

        out = super().profile(model, run_dir, training)
        return {**out, **batch_latencies(model, self.x["test"], collate)}

    @classmethod
    def onnx_model(cls, run: Any, graphs: Any) -> nn.Module:
        from seqarena.tasks.classify_export import OnnxClassifier

        return OnnxClassifier(graphs, run.artifacts)

    @classmethod
    def streamer(cls, run: Any, graphs: Any) -> Any:
        from seqarena.tasks.classify_export import ClassifyStreamer

        return ClassifyStreamer(run, graphs)

    @classmethod
    def export_graphs(cls, model: nn.Module, artifacts: dict[str, Any]) -> list[Any]:
        from seqarena.tasks.classify_export import export_graphs

        if isinstance(model, ExitClassifier):
            raise ConfigError("an early-exit classifier (task.exits) picks its depth per sequence as it runs, which "
                              "a fixed ONNX graph cannot; serve it with the eager backend")  # fmt: skip
        return export_graphs(model, artifacts)

    @classmethod
    def predict(cls, run: Any, inputs: Any, **options: Any) -> tuple[Any, str]:
        from seqarena.tasks.classify_predict import predict_file

        if options:
            raise ConfigError(f"classification predict takes no {', '.join(options)} option; it labels every sequence")
        if not isinstance(inputs, Path):
            raise DataError(
                f"a classification run predicts from a file; give the path of a table, not {type(inputs).__name__}"
            )
        result = predict_file(run.model, run.artifacts, inputs)
        return result, f"labels for {len(result)} sequences"

    @classmethod
    def ensemble(cls, runs: list[Any], split: str, batch_size: int) -> dict[str, Any]:
        """The average of the runs' class probabilities on a split (cross-validation bagging, as InceptionTime
        averages 5 networks); each run sees the split through its own preprocessing."""
        total, classes, target = None, None, None
        for run in runs:
            task = cls(run.config, run.run_dir)
            if classes is not None and task.classes != classes:
                raise SeqarenaError(f"{run.run_dir} learnt other classes than the first run; cannot average them")
            classes, target = task.classes, task.y[split]
            probs = task.predict_proba(run.model, task.x[split], batch_size, torch.device("cpu"))  # (N, K)
            total = probs if total is None else total + probs
        assert total is not None and classes is not None and target is not None
        return {**classification_metrics(total / len(runs), target, classes), "members": len(runs)}


def make_model(cfg: RunConfig, in_dim: int, n_classes: int, vocab_size: int | None) -> ClassifyModel:
    net = get_model(cfg.model.name)(cfg.model)
    tc = cfg.task
    if tc.exits:
        model = ExitClassifier(net, in_dim, n_classes, tc.pooling, vocab_size, tc.patch, threshold=tc.exit_threshold)
    else:
        model = ClassifyModel(net, in_dim, n_classes, tc.pooling, vocab_size, tc.patch)
    model.grad_checkpointing = cfg.train.grad_checkpointing
    return model


def _check_options(tc: Any) -> None:
    """The relations between options (each option's own range is checked when the config is built)."""
    if tc.split is not None and (len(tc.split) != 3 or any(s <= 0 for s in tc.split) or abs(sum(tc.split) - 1) > 1e-6):
        raise ConfigError(f"task.split={tc.split} must be three positive shares summing to 1 (train, val, test)")
    if tc.folds is not None and not 0 <= tc.fold < tc.folds:
        raise ConfigError(f"task.folds={tc.folds}, task.fold={tc.fold}: need 0 <= fold < folds")
    if not tc.exits and tc.exit_threshold != 0.9:
        raise ConfigError(f"task.exit_threshold={tc.exit_threshold} applies to early exit; set task.exits=true")


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


__all__ = ["ClassifyTask", "LabelledSet", "collate", "time_warp"]
