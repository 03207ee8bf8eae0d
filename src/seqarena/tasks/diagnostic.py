"""The long-range diagnostics as tasks: adding, copy_memory, selective_copy, mqar and induction. Their data is
generated in memory from `task.data_seed` (data/diagnostics.py), so any backbone can be raced where the families
separate, at any length; `seqarena evaluate RUN --lengths ...` scores a trained run at other lengths.

Each reports its trivial baseline on the same test cases: predicting 1 for adding (MSE about 0.17), the memoryless
10 ln 8 / (T + 20) for copy memory, chance for the recall tasks. mqar and induction are next-token problems, so
they need a causal backbone (a bidirectional one would read the answer).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from seqarena.data import diagnostics as gen
from seqarena.errors import ConfigError
from seqarena.profile import timed
from seqarena.ranges import NON_NEGATIVE, at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import COST, LATENCY, Column, Metric, Requires, Task

OFFSET = {"train": 0, "val": 1, "test": 2}  # each split draws from its own seed


@dataclass(kw_only=True)
class DiagnosticConfig:
    n_train: int = opt(10_000, at_least(1))
    n_val: int = opt(1_000, at_least(1))
    n_test: int = opt(1_000, at_least(1))
    data_seed: int = opt(0, NON_NEGATIVE)  # the generated cases (kept apart from train.seed, so seeds share data)


@dataclass(kw_only=True)
class AddingConfig(DiagnosticConfig):
    name: Literal["adding"] = "adding"
    data: Literal["adding"] = "adding"
    length: int = opt(200, at_least(2))  # T: steps per sequence


@dataclass(kw_only=True)
class CopyConfig(DiagnosticConfig):
    name: Literal["copy_memory"] = "copy_memory"
    data: Literal["copy_memory"] = "copy_memory"
    length: int = opt(200, at_least(1))  # T: blanks between the 10 symbols and their recall (T + 20 steps)


@dataclass(kw_only=True)
class SelectiveCopyConfig(DiagnosticConfig):
    name: Literal["selective_copy"] = "selective_copy"
    data: Literal["selective_copy"] = "selective_copy"
    length: int = opt(128, at_least(1))  # positions the symbols are scattered over (then `tokens` markers)
    tokens: int = opt(8, at_least(1))  # symbols to copy, in order
    vocab: int = opt(10, at_least(3))  # blank + vocab - 2 symbols + the marker


@dataclass(kw_only=True)
class MQARConfig(DiagnosticConfig):
    name: Literal["mqar"] = "mqar"
    data: Literal["mqar"] = "mqar"
    length: int = opt(64, at_least(4))
    pairs: int = opt(4, at_least(1))  # key-value pairs, each queried once
    vocab: int = opt(256, at_least(4))  # keys from the lower half, values from the upper half


@dataclass(kw_only=True)
class InductionConfig(DiagnosticConfig):
    name: Literal["induction"] = "induction"
    data: Literal["induction"] = "induction"
    length: int = opt(128, at_least(4))
    vocab: int = opt(16, at_least(3))  # the trigger + vocab - 1 ordinary tokens


class DiagnosticModel(nn.Module):
    """Embedding (tokens) or a linear map (the adding problem's two channels) -> backbone -> a head per step."""

    def __init__(self, net: nn.Module, vocab: int | None, out: int) -> None:
        super().__init__()
        d = net.cfg.d_model
        self.net, self.grad_checkpointing = net, False
        self.embed = nn.Embedding(vocab, d) if vocab else nn.Linear(2, d)
        self.head = nn.Linear(d, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T) ids or (B, T, 2) values -> (B, T, out)
        h = self.embed(x)  # (B, T, D)
        if self.grad_checkpointing and self.training:
            h = checkpoint(lambda z: self.net(z)[0], h, use_reentrant=False)
        else:
            h = self.net(h)[0]  # (B, T, D)
        return self.head(h)


class _Diagnostic(Task):
    """What the five share: generated splits, a backbone with an embedding and a head, and their profile."""

    requires = Requires(kinds=("backbone",))
    length_key = "length"
    vocab: ClassVar[int | None] = None  # None: two real-valued channels (adding)

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        return [f"Every case is a generated {cls.name} sequence of length {settings.get('length')} (seeded by "
                f"task.data_seed, the same for every model); only the answer positions are scored."]  # fmt: skip

    def __init__(self, cfg: Any, run_dir: Path | None = None) -> None:
        self.cfg = self.resolve(cfg)
        tc = self.cfg.task
        self.notes, self.data_sha256 = [], None
        self.data: dict[str, gen.Problem] = {}
        for split in SPLITS:
            g = torch.Generator().manual_seed(tc.data_seed * 3 + OFFSET[split])
            try:
                self.data[split] = self.generate(tc, getattr(tc, f"n_{split}"), g)
            except ValueError as exc:
                raise ConfigError(f"task {tc.name}: {exc}; change task.length or the problem's size") from None

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        raise NotImplementedError

    @classmethod
    def out_size(cls, tc: Any) -> int:
        return tc.vocab

    @classmethod
    def build(cls, cfg: Any) -> DiagnosticModel:
        tc = cfg.task
        model = DiagnosticModel(get_model(cfg.model.name)(cfg.model), cls.input_vocab(tc), cls.out_size(tc))
        model.grad_checkpointing = cfg.train.grad_checkpointing
        return model

    @classmethod
    def input_vocab(cls, tc: Any) -> int | None:
        return tc.vocab

    def resolve(self, cfg: Any) -> Any:
        self.check_model(get_model(cfg.model.name), cfg.model)
        return solve_width(cfg, self.build)

    def build_model(self, cfg: Any) -> DiagnosticModel:
        return self.build(cfg)

    @classmethod
    def load_model(cls, cfg: Any, artifacts: dict[str, Any]) -> DiagnosticModel:
        return cls.build(cfg)

    def values_checksum(self) -> str:
        p = self.data["train"]
        return hashlib.sha256(p.x.numpy().tobytes() + p.y.numpy().tobytes()).hexdigest()

    def n_train(self) -> int:
        return len(self.data["train"].x)

    def train_batches(self, batch_size: int, generator: torch.Generator):
        p = self.data["train"]
        order = torch.randperm(len(p.x), generator=generator)
        for i in range(0, len(order), batch_size):
            take = order[i : i + batch_size]
            yield p.x[take], p.y[take], p.scored[take]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, scored = batch
        logits = model(x)  # (B, T, V)
        return F.cross_entropy(logits[scored], y[scored])

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        p = self.data[split]
        answers = p.answers if p.answers is not None else p.scored
        nll = hits = n_scored = n_answers = 0.0
        solved = 0
        for x, y, s, a in zip(*(t.split(batch_size) for t in (p.x, p.y, p.scored, answers)), strict=True):
            x, y, s, a = x.to(device), y.to(device), s.to(device), a.to(device)
            logits = model(x).float()  # (B, T, V)
            nll += float(F.cross_entropy(logits[s], y[s], reduction="sum"))
            right = logits.argmax(-1) == y  # (B, T)
            hits += float((right & a).sum())
            solved += int(((right | ~a).all(dim=1)).sum())
            n_scored, n_answers = n_scored + float(s.sum()), n_answers + float(a.sum())
        model.train(was_training)
        xent = nll / n_scored
        return {
            "loss": xent,
            "xent": xent,
            "accuracy": hits / n_answers,
            "solved": solved / len(p.x),
            **self.reference(self.cfg.task),
        }

    @classmethod
    def reference(cls, tc: Any) -> dict[str, float]:
        return {}

    def artifacts(self) -> dict[str, Any]:
        return {"length": self.cfg.task.length}

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        out = super().profile(model, run_dir, training)
        x = self.data["test"].x
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            out["latency_b1_ms"] = timed(lambda: model(x[:1]), 10)["median_ms"]
            out["latency_b64_ms"] = timed(lambda: model(x[:64]), 3)["median_ms"]
        model.train(was_training)
        return out


ACCURACY = Metric("accuracy", "test accuracy", True, share=True)
_RECALL_COLUMNS = (
    Column("test accuracy", "test_accuracy", 4, True),
    Column("solved", "test_solved", 3, True),
    Column("test xent", "test_xent", 4),
    *COST,
    *LATENCY,
)


@register_task("adding")
class AddingTask(_Diagnostic):
    Config = AddingConfig
    metric = Metric("mse", "test MSE")
    quality = (Metric("mse", "test MSE"),)
    columns = (Column("test MSE", "test_mse", 5, True), *COST, *LATENCY)
    references = {"constant_mse": "always predicting 1 (the expected sum) scores MSE {value:.4f} on the same cases."}
    baseline = ("mse", "constant_mse")
    loss_name = "MSE"

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        return gen.adding(n, tc.length, g)

    @classmethod
    def input_vocab(cls, tc: Any) -> None:
        return None

    @classmethod
    def out_size(cls, tc: Any) -> int:
        return 1

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, _ = batch
        return F.mse_loss(model(x)[:, -1, 0], y)  # the last step's output reads the whole sequence

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        p = self.data[split]
        pred = torch.cat([model(x.to(device))[:, -1, 0].float().cpu() for x in p.x.split(batch_size)])
        model.train(was_training)
        mse = float(((pred - p.y) ** 2).mean())
        return {"loss": mse, "mse": mse, "constant_mse": float(((p.y - 1.0) ** 2).mean())}


@register_task("copy_memory")
class CopyTask(_Diagnostic):
    Config = CopyConfig
    metric = Metric("xent", "test cross-entropy")
    quality = (Metric("xent", "test cross-entropy"), Metric("accuracy", "recall accuracy", True, share=True))
    columns = (
        Column("test xent", "test_xent", 5, True),
        Column("recall accuracy", "test_accuracy", 4, True),
        *COST,
        *LATENCY,
    )
    references = {"memoryless_xent": "a memoryless model scores cross-entropy 10 ln 8 / (T + 20) = {value:.5f}."}
    baseline = ("xent", "memoryless_xent")
    loss_name = "cross-entropy"

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        return gen.copy_memory(n, tc.length, g)

    @classmethod
    def input_vocab(cls, tc: Any) -> int:
        return gen.COPY_SYMBOLS + 2

    out_size = input_vocab

    @classmethod
    def reference(cls, tc: Any) -> dict[str, float]:
        return {"memoryless_xent": gen.COPY_RECALL * math.log(gen.COPY_SYMBOLS) / (tc.length + 2 * gen.COPY_RECALL)}


class _Recall(_Diagnostic):
    metric = ACCURACY
    quality = (
        ACCURACY,
        Metric("solved", "share of cases solved", True, share=True),
        Metric("xent", "test cross-entropy"),
    )
    columns = _RECALL_COLUMNS
    references = {"chance_accuracy": "guessing uniformly among the possible answers scores accuracy {value:.4f}."}
    baseline = None  # chance is a floor, not a bar: short runs sit near it while they learn
    loss_name = "cross-entropy"


@register_task("selective_copy")
class SelectiveCopyTask(_Recall):
    Config = SelectiveCopyConfig

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        return gen.selective_copy(n, tc.length, tc.tokens, tc.vocab, g)

    @classmethod
    def reference(cls, tc: Any) -> dict[str, float]:
        return {"chance_accuracy": 1 / (tc.vocab - 2)}


@register_task("mqar")
class MQARTask(_Recall):
    Config = MQARConfig
    requires = Requires(kinds=("backbone",), causal=True)

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        return gen.mqar(n, tc.length, tc.pairs, tc.vocab, g)

    @classmethod
    def reference(cls, tc: Any) -> dict[str, float]:
        return {"chance_accuracy": 1 / (tc.vocab - tc.vocab // 2)}

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        return _causal(model_cls)


@register_task("induction")
class InductionTask(_Recall):
    Config = InductionConfig
    requires = Requires(kinds=("backbone",), causal=True)

    @staticmethod
    def generate(tc: Any, n: int, g: torch.Generator) -> gen.Problem:
        return gen.induction(n, tc.length, tc.vocab, g)

    @classmethod
    def reference(cls, tc: Any) -> dict[str, float]:
        return {"chance_accuracy": 1 / (tc.vocab - 1)}

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        return _causal(model_cls)


def _causal(model_cls: type) -> dict[str, Any]:
    """Next-token problems: a backbone with a `causal` switch is made causal unless the user says otherwise."""
    from dataclasses import fields

    return {"causal": True} if any(f.name == "causal" for f in fields(model_cls.Config)) else {}
