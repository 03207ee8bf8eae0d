"""The task contract. A task is one module and one registered class: its Config (the `task.*` options), how it
loads and splits data, the model it builds around a backbone, its loss and metrics, what a run directory needs to
predict, and what the arena measures and reports for it. run, cv, arena, report and the CLI ask the task through
this contract; none of them knows a task by its name.

The life of a run:

    task = TaskClass(cfg)                  # load and check the data; task.cfg = task.resolve(cfg)
    cfg = task.cfg                         # dataset defaults filled in, the width solved for model.params
    model = task.build_model(cfg)
    for batch in task.train_batches(cfg.train.batch_size, generator):
        task.loss(model, batch).backward() ...
    task.evaluate(model, "test", batch_size, device)   # {"loss": ..., <metric.key>: ..., ...}
    task.save_artifacts(run_dir)           # JSON beside model.safetensors: what predict needs
    model = TaskClass.load_model(cfg, TaskClass.load_artifacts(run_dir))   # no data needed

`resolve(cfg)` is pure: it returns a new config and never changes the task, so the arena resolves every entrant
against one loaded task. The instance's batches and metrics follow `task.cfg`. `Task` below is a thin base class:
declarations with neutral defaults, and optional operations (predict, generate, translate, ensemble) that refuse
with a one-line error unless the task provides them. `seqarena.testing.check_task` checks a task against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from seqarena.config import refuse_unless_default
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.files import read_json, write_json
from seqarena.models.base import Capabilities

if TYPE_CHECKING:
    import pandas as pd

    from seqarena.config import RunConfig

__all__ = ["Column", "Distillable", "Metric", "Requires", "Task", "refuse_unless_default", "COST", "DEPLOY", "LATENCY"]

ARTIFACTS = "task.json"


@dataclass(frozen=True)
class Requires:
    """The model capabilities a task needs; `why_not` names the first one a model lacks."""

    kinds: tuple[str, ...] = ("backbone",)  # "backbone" ((B, T, D) -> (B, T, D)) and/or "forecaster"
    causal: bool = False  # the output at t may not see later inputs (a language model predicts the next token)
    masks: bool = False  # variable-length batches: causal, or honours a padding mask
    encdec: bool = False  # an encoder-decoder form registered for the backbone (registry.register_encdec)

    def why_not(self, name: str, cap: Capabilities) -> str | None:
        from seqarena.registry import get_encdec

        if cap.kind not in self.kinds:
            return f"it is a {cap.kind}; this task needs a {' or a '.join(self.kinds)}"
        if self.causal and not cap.causal:
            return "it is bidirectional: it would see the next token" if cap.bidirectional else "it is not causal"
        if self.masks and not (cap.causal or cap.masks):
            return "it is not causal and cannot mask padding, so it cannot read variable-length batches"
        if self.encdec and get_encdec(name) is None:
            return "it has no encoder-decoder form (registry.register_encdec)"
        return None


@dataclass(frozen=True)
class Distillable:
    """A batch as distillation sees it: the task's own loss, and the outputs a student matches of its teacher."""

    loss: torch.Tensor  # the task's loss on the labels
    outputs: torch.Tensor  # (..., K) logits, or (...) values
    kind: str  # "logits": softened by the temperature and matched by KL divergence; "values": by squared error
    mask: torch.Tensor | None = None  # (...) the outputs that count (e.g. tokens, not padding)


@dataclass(frozen=True)
class Metric:
    key: str  # a key of evaluate()'s output
    name: str  # how sentences name it, e.g. "test MSE"
    higher_is_better: bool = False
    share: bool = False  # a fraction in [0, 1] (accuracy, F1, hit rate): its intervals are clipped to that range


@dataclass(frozen=True)
class Column:
    """A leaderboard column: `key` is test_<metric>, val_<metric>, a run figure or a profile figure."""

    header: str
    key: str
    digits: int = 4
    ci: bool = False  # show the 95% confidence interval across seeds


COST = (
    Column("params", "params", 0),
    Column("train s", "train_seconds", 1),
    Column("samples/s", "samples_per_s", 0),
    Column("to best s", "time_to_best", 1),
)
LATENCY = (Column("latency b1 ms", "latency_b1_ms", 3), Column("latency b64 ms", "latency_b64_ms", 2))
DEPLOY = (  # an arena with `export: true`: the deployable cost (seqarena/deploy/quantize.py deploy_profile)
    Column("ONNX b1 ms", "onnx_latency_b1_ms", 3),
    Column("int8 KB", "int8_kb", 1),
    Column("int8 metric change", "int8_metric_change", 4),
)


class Task:
    name: ClassVar[str]  # set by @register_task
    Config: ClassVar[type]  # the task.* section: a kw_only dataclass with `name` (defaulting to the task's name)
    # and `data` (what the run trains on, as run.json and run names record it)
    requires: ClassVar[Requires] = Requires()
    metric: ClassVar[Metric]  # the primary test metric: the arena ranks on it
    quality: ClassVar[tuple[Metric, ...]] = ()  # further metrics carried to the leaderboard (test_ and val_)
    columns: ClassVar[tuple[Column, ...]] = ()  # leaderboard columns after #, model, runs (size, memory follow)
    references: ClassVar[dict[str, str]] = {}  # test-metric key -> a sentence about a trivial baseline, {value}
    baselines: ClassVar[tuple[str, ...]] = ()  # models that join every arena of this task
    sections: ClassVar[tuple[str, ...]] = ()  # extra report figures (report/plots.py SECTIONS)
    loss_name: ClassVar[str] = "loss"  # what the training and validation loss is, for plot labels
    adopts: ClassVar[tuple[str, ...]] = ()  # options users spell under model. that are this task's own
    cv_metrics: ClassVar[tuple[str, ...]] = ()  # `seqarena cv`: validation metrics summarised over folds; () = none
    length_key: ClassVar[str | None] = None  # the task.* option that sets the sequence length, so a trained run can
    # be evaluated at other lengths (`seqarena evaluate RUN --lengths`, the arena's `lengths:`); None: it cannot
    baseline: ClassVar[tuple[str, str] | None] = None  # (metric key, key of a trivial baseline's score in the same
    # metrics): a run far worse than that baseline is flagged (seqarena/quality.py)

    cfg: RunConfig  # the resolved config that batches, loss and metrics follow
    notes: list[str]  # lines for the user before training (e.g. a class seen only in test)
    validates: bool = True  # False: no validation split; the training loss selects the epoch
    data_sha256: str | None = None  # of the data file(s), recorded in run.json

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        """Load and check the data for `cfg`; with `run_dir`, reuse that finished run's artifacts (its vocabulary)
        instead of fitting them again."""
        raise NotImplementedError

    def resolve(self, cfg: RunConfig) -> RunConfig:
        """`cfg` with the dataset's defaults filled in and d_model solved for model.params (then None)."""
        raise NotImplementedError

    def build_model(self, cfg: RunConfig) -> nn.Module:
        raise NotImplementedError

    def n_train(self) -> int:
        """Training examples per epoch (windows, sequences, pairs)."""
        raise NotImplementedError

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        """One epoch of shuffled batches; every random choice draws from `generator`. batch[0] has one row per
        example."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        """Metrics over the whole split, "loss" and `metric.key` among them."""
        raise NotImplementedError

    def values_checksum(self) -> str:
        """sha256 of the training values as the model sees them (after parsing), recorded in run.json."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the data is like, for `seqarena advise`: "samples" (training examples), "length" (steps a model
        reads at once), and whatever else the task knows ("channels", "period", "seasonal_strength",
        "irregularity", "classes")."""
        length = getattr(self.cfg.task, self.length_key) if self.length_key else None
        return {"samples": self.n_train(), "length": length}

    def calibrate(self, model: nn.Module, device: torch.device) -> None:
        """After training, before the artifacts are saved: fit what needs the trained model (e.g. forecasting's
        conformal intervals from validation errors). Nothing by default."""

    def artifacts(self) -> dict[str, Any]:
        """What loading and predicting need besides the config and weights (JSON-serialisable)."""
        return {}

    def save_artifacts(self, run_dir: Path) -> None:
        write_json(run_dir / ARTIFACTS, self.artifacts())

    @classmethod
    def load_artifacts(cls, run_dir: Path) -> dict[str, Any]:
        path = run_dir / ARTIFACTS
        if not path.is_file():
            raise SeqarenaError(
                f"{run_dir} is not a finished run (no {ARTIFACTS}); train it first or finish it with --resume"
            )
        try:
            return read_json(path)
        except (OSError, ValueError):
            raise SeqarenaError(f"{path} is not valid JSON; train the run again") from None

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the arena measures for a trained model besides quality: threads, size, memory, and the task's own
        speed figures (latency, generation speed, ...); `training` holds the loop's figures (samples_per_s). May add
        "extras" (JSON) for report sections."""
        from seqarena.profile import peak_rss_mb

        out = {
            "threads": torch.get_num_threads(),
            "size_bytes": (run_dir / "model.safetensors").stat().st_size,
            "peak_rss_mb": peak_rss_mb(),
        }
        if torch.cuda.is_available():  # training ran there (train.device=auto); latencies are measured on the CPU
            out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        """Plain sentences for the report: what the metrics are measured on (their scale, the split) and the task's
        key settings, from a run's resolved task.* section."""
        return []

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        """Model options this task sets unless the user does (a language model's backbone is causal)."""
        return {}

    @classmethod
    def check_model(cls, model_cls: type, model_cfg: Any) -> None:
        """Refuse a model this task cannot use, naming the capability it lacks."""
        why = cls.requires.why_not(model_cls.name, model_cls.capabilities_of(model_cfg))
        if why is not None:
            raise ConfigError(f"model '{model_cls.name}' cannot serve task '{cls.name}': {why}")

    # Optional operations: a task that offers one overrides it.

    @classmethod
    def predict(cls, run: Any, inputs: Any, **options: Any) -> tuple[pd.DataFrame, str]:
        """Predictions for new inputs (a file path, or what the task also takes, e.g. a DataFrame) from a finished
        run (a LoadedRun), and a phrase saying what they are."""
        raise SeqarenaError(f"{run.run_dir} is a {cls.name} run; its task has no predict (see `seqarena --help`)")

    @classmethod
    def backtest(cls, run: Any, windows: int, step: int | None, refit: str | int, log: Any) -> dict[str, Any]:
        """Rolling-origin evaluation of a finished run (forecasting)."""
        raise SeqarenaError(f"{run.run_dir} is a {cls.name} run; backtest takes a forecasting run")

    @classmethod
    def generate(cls, run: Any, prompt: str, **options: Any) -> dict[str, Any]:
        raise SeqarenaError(f"{run.run_dir} is a {cls.name} run; generate needs a language model (task.name=lm)")

    @classmethod
    def translate(cls, run: Any, texts: list[str], **options: Any) -> dict[str, Any]:
        raise SeqarenaError(f"{run.run_dir} is a {cls.name} run; translate needs a sequence-to-sequence run")

    @classmethod
    def export_graphs(cls, model: nn.Module, artifacts: dict[str, Any]) -> list[Any]:
        """The graphs `seqarena export` writes (deploy/graphs.py Graph), the main one first."""
        raise SeqarenaError(f"task '{cls.name}' cannot be exported to ONNX yet")

    @classmethod
    def streamer(cls, run: Any, graphs: Any) -> Any:
        """An object with step(observation) -> dict and reset(), predicting from the carried state, run by
        `graphs` (deploy/runtime.py: ONNX Runtime or eager)."""
        raise SeqarenaError(f"{run.run_dir} is a {cls.name} run; its task cannot stream")

    @classmethod
    def onnx_model(cls, run: Any, graphs: Any) -> nn.Module:
        """A stand-in for the run's model that evaluate() accepts, running the exported graphs (deploy/runtime.py
        OnnxGraphs) with ONNX Runtime: how int8 is scored on the task's own metric."""
        raise SeqarenaError(f"task '{cls.name}' cannot score an ONNX export")

    def why_no_distillation(self) -> str | None:
        """Why this task (as configured) cannot train against a teacher (train.teacher); None when it can."""
        return f"task '{type(self).name}' cannot distil from a teacher yet"

    def why_not_teacher(self, artifacts: dict[str, Any]) -> str | None:
        """Why a teacher run with these artifacts cannot teach this run (e.g. another vocabulary); None: it can."""
        return None

    def distill_outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        """The batch's loss and what a student matches of a teacher (train.teacher): class logits, or point
        forecasts for regression."""
        raise SeqarenaError(f"task '{type(self).name}' cannot distil from a teacher yet (train.teacher)")

    def why_no_curriculum(self) -> str | None:
        """Why this task (as configured) cannot train on shortened sequences (train.length_warmup); None: it can."""
        return f"task '{type(self).name}' has no length curriculum yet"

    def sequence_length(self, batch: tuple[torch.Tensor, ...]) -> int:
        """The full sequence length of a training batch (train.length_warmup)."""
        return int(batch[0].shape[1])

    def shorten(self, batch: tuple[torch.Tensor, ...], length: int) -> tuple[torch.Tensor, ...]:
        """The training batch with its sequences cut to `length` steps (train.length_warmup)."""
        raise SeqarenaError(f"task '{type(self).name}' has no length curriculum yet (train.length_warmup)")

    @classmethod
    def ensemble(cls, runs: list[Any], split: str, batch_size: int) -> dict[str, Any]:
        """Metrics of the averaged predictions of several finished runs (cross-validation folds)."""
        raise SeqarenaError(f"task '{cls.name}' cannot average the predictions of several runs")
