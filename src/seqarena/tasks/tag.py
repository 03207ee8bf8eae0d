"""Sequence labelling: one tag per token (named entities in IOB2, part-of-speech), scored by span F1 (seqeval) and
token accuracy against the most-frequent-tag-per-token baseline. Data: a CoNLL file or folder, the Japanese
named-entity corpus `hironsan` (seqarena[label]), or the seeded `synthetic-ner` set. Without an official split the
sentences are split train/val/test by task.split (seeded by task.split_seed); test never selects an epoch."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data.labelled import UNK
from seqarena.data.tagged import load_tagged, read_conll
from seqarena.errors import ConfigError, DataError
from seqarena.ranges import FRACTION, NON_NEGATIVE, UNIT, at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import COST, LATENCY, Column, Distillable, Metric, Requires, Task
from seqarena.tasks.tag_metrics import most_frequent_tags, scheme_of, tagging_metrics
from seqarena.tasks.tag_model import IGNORE, TagModel, collate

DEFAULT_SHARES = [0.8, 0.1, 0.1]


@dataclass(kw_only=True)
class TagConfig:
    name: Literal["tag"] = "tag"
    data: str = "synthetic-ner"  # hironsan, synthetic-ner, or a CoNLL file / folder of train, dev, test files
    column: int = -1  # CoNLL files: the column holding the tag (-1: the last); the token is the first
    lowercase: bool = False  # fold tokens to lower case before looking them up
    min_count: int = opt(1, at_least(1))  # tokens seen fewer times in training are unknown
    word_dropout: float = opt(0.05, FRACTION)  # training: a token becomes "unknown" with this probability, so
    # the model learns what to do with words it has never seen
    split: list[float] | None = opt(None, UNIT)  # no official split: train/val/test shares (default 0.8, 0.1, 0.1)
    val_fraction: float = opt(0.1, FRACTION)  # an official split without dev: the share of train held out
    split_seed: int = opt(0, NON_NEGATIVE)  # the seed of the split (apart from train.seed, so seeds share it)


F1 = Metric("f1", "test span F1", True, share=True)


@register_task("tag")
class TagTask(Task):
    Config = TagConfig
    requires = Requires(masks=True)
    metric = F1
    quality = (F1, Metric("accuracy", "test token accuracy", True, share=True))
    columns = (
        Column("test span F1", "test_f1", 4, True),
        Column("test token acc", "test_accuracy", 4, True),
        *COST,
        *LATENCY,
    )
    references = {
        "baseline_f1": "tagging each token with its most frequent training tag scores span F1 {value:.4f} on the "
        "same test sentences."
    }
    loss_name = "cross-entropy"
    baseline = ("f1", "baseline_f1")

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        tc = cfg.task
        if Path(tc.data).expanduser().exists():
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        data = load_tagged(tc.data, tc.column)
        self.notes: list[str] = []
        idx = _split(data.official, len(data.tokens), tc)
        for split in SPLITS:
            if not len(idx[split]):
                raise DataError(
                    f"{data.name}: the {split} split is empty ({len(data.tokens)} sentences); give more data or "
                    f"change task.split / task.val_fraction"
                )
        words = [[w.lower() for w in s] if tc.lowercase else s for s in data.tokens]
        self.words = {s: [words[i] for i in idx[s]] for s in SPLITS}
        self.gold = {s: [data.tags[i] for i in idx[s]] for s in SPLITS}
        counts = Counter(w for s in self.words["train"] for w in s)
        self.vocab = sorted(w for w, c in counts.items() if c >= tc.min_count)
        self.tags = sorted({t for s in self.gold["train"] for t in s})
        if len(self.tags) < 2:
            raise DataError(f"{data.name}: the training sentences hold only one tag ({self.tags[0]!r})")
        unseen = sorted({t for s in SPLITS[1:] for g in self.gold[s] for t in g} - set(self.tags))
        if unseen:
            self.notes.append(f"warning: tag(s) {', '.join(map(repr, unseen[:5]))} appear only in val/test; their "
                              f"tokens count as errors")  # fmt: skip
        self.scheme = scheme_of(self.tags)
        ids, tag_ids = {w: i + 2 for i, w in enumerate(self.vocab)}, {t: i for i, t in enumerate(self.tags)}
        self.x = {s: [torch.tensor([ids.get(w, UNK) for w in sent]) for sent in self.words[s]] for s in SPLITS}
        self.y = {s: [torch.tensor([tag_ids.get(t, IGNORE) for t in g]) for g in self.gold[s]] for s in SPLITS}
        self.best_tag = most_frequent_tags(self.words["train"], self.gold["train"])
        self.data_name, self.data_sha256 = data.name, data.sha256
        self.max_length = max(len(s) for s in data.tokens)
        self.cfg = self.resolve(replace(cfg, task=tc))

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        return [
            "Span F1 is the micro F1 of whole entities (type and boundaries exact, seqeval's conlleval mode) on "
            "the test sentences; plain tags (no B-/I- prefixes) count each token as a span. Validation sentences "
            "select each model's epoch; test never does."
        ]

    def describe(self) -> dict[str, Any]:
        return {"samples": self.n_train(), "length": self.max_length, "classes": len(self.tags)}

    def resolve(self, cfg: RunConfig) -> RunConfig:
        self.check_model(get_model(cfg.model.name), cfg.model)
        return solve_width(cfg, self.build_model)

    def values_checksum(self) -> str:
        digest = hashlib.sha256()
        for x, y in zip(self.x["train"], self.y["train"], strict=True):
            digest.update(x.numpy().tobytes() + y.numpy().tobytes())
        return digest.hexdigest()

    def build_model(self, cfg: RunConfig) -> TagModel:
        return _make_model(cfg, len(self.vocab) + 2, len(self.tags))

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> TagModel:
        return _make_model(cfg, len(artifacts["vocab"]) + 2, len(artifacts["tags"]))

    def n_train(self) -> int:
        return len(self.x["train"])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.x["train"]), generator=generator)
        for i in range(0, len(order), batch_size):
            take = order[i : i + batch_size].tolist()
            x, mask, y = collate([self.x["train"][j] for j in take], [self.y["train"][j] for j in take])
            if self.cfg.task.word_dropout > 0:  # seeded: some known tokens become unknown
                drop = (torch.rand(x.shape, generator=generator) < self.cfg.task.word_dropout) & mask
                x = x.masked_fill(drop, UNK)
            yield x, mask, y

    @staticmethod
    def loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, mask, y = batch
        logits = model(x, mask)  # (B, T, K)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)

    def why_no_distillation(self) -> str | None:
        return None

    def distill_outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        x, mask, y = batch
        logits = model(x, mask)  # (B, T, K)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        return Distillable(loss, logits, "logits", mask)

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        total, count, pred = 0.0, 0, []
        with torch.inference_mode():
            for i in range(0, len(self.x[split]), batch_size):
                x, mask, y = collate(self.x[split][i : i + batch_size], self.y[split][i : i + batch_size])
                logits = model(x.to(device), mask.to(device)).float().cpu()  # (B, T, K)
                total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE,
                                               reduction="sum"))  # fmt: skip
                count += int((y != IGNORE).sum())
                best = logits.argmax(-1)  # (B, T)
                pred += [
                    [self.tags[j] for j in row[: int(m.sum())].tolist()] for row, m in zip(best, mask, strict=True)
                ]
        model.train(was_training)
        known, fallback = self.best_tag
        baseline = [[known.get(w, fallback) for w in s] for s in self.words[split]]
        base = tagging_metrics(self.gold[split], baseline, self.scheme)
        out = tagging_metrics(self.gold[split], pred, self.scheme)
        return {"loss": total / max(count, 1), **out, "baseline_f1": base["f1"], "baseline_accuracy": base["accuracy"],
                "unknown_rate": _unknown_rate(self.x[split])}  # fmt: skip

    def artifacts(self) -> dict[str, Any]:
        tc = self.cfg.task
        splits = {s: len(self.x[s]) for s in SPLITS}
        return {"vocab": self.vocab, "tags": self.tags, "scheme": self.scheme, "lowercase": tc.lowercase,
                "column": tc.column, "splits": splits, "max_length": self.max_length}  # fmt: skip

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Latency of tagging real test sentences at batch 1 and 64 (median and p95)."""
        from seqarena.profile import batch_latencies

        out = super().profile(model, run_dir, training)
        return {**out, **batch_latencies(model, self.x["test"], collate)}

    @classmethod
    def predict(cls, run: Any, inputs: Any, **options: Any) -> tuple[Any, str]:
        """Tags for a CoNLL file (tokens in the first column; any tags there are ignored) or for a list of
        sentences (each a list of tokens or a whitespace-separated string): one row per token."""
        import pandas as pd

        if options:
            raise ConfigError(f"sequence-labelling predict takes no {', '.join(options)} option")
        sentences = _sentences(inputs)
        art = run.artifacts
        ids = {w: i + 2 for i, w in enumerate(art["vocab"])}
        xs = [torch.tensor([ids.get(w.lower() if art["lowercase"] else w, UNK) for w in s]) for s in sentences]
        pred = predict_ids(run.model, xs, 256, torch.device("cpu"))
        rows = [(i, j, w, art["tags"][t]) for i, (s, p) in enumerate(zip(sentences, pred, strict=True))
                for j, (w, t) in enumerate(zip(s, p, strict=True))]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["sentence", "position", "token", "tag"])
        return frame, f"tags for {len(frame)} tokens in {len(sentences)} sentences"


@torch.inference_mode()
def predict_ids(model: nn.Module, xs: list[torch.Tensor], batch_size: int, device: torch.device) -> list[list[int]]:
    was_training = model.training
    model.eval()
    out: list[list[int]] = []
    for i in range(0, len(xs), batch_size):
        x, mask = collate(xs[i : i + batch_size])
        best = model(x.to(device), mask.to(device)).argmax(-1).cpu()  # (B, T)
        out += [row[: int(m.sum())].tolist() for row, m in zip(best, mask, strict=True)]
    model.train(was_training)
    return out


def _make_model(cfg: RunConfig, vocab_size: int, n_tags: int) -> TagModel:
    return TagModel(get_model(cfg.model.name)(cfg.model), vocab_size, n_tags)


def _split(official: list[str] | None, n: int, tc: TagConfig) -> dict[str, np.ndarray]:
    """Sentence indices per split: the source's files where it has them (val carved from train when it has no dev
    file), else seeded shares of a shuffle."""
    rng = np.random.default_rng(tc.split_seed)
    if official is not None:
        labels = np.array(official)
        idx = {s: np.flatnonzero(labels == s) for s in SPLITS}
        if not len(idx["val"]) and tc.val_fraction > 0:
            order = rng.permutation(idx["train"])
            cut = max(1, round(len(order) * tc.val_fraction))
            idx["val"], idx["train"] = np.sort(order[:cut]), np.sort(order[cut:])
        return idx
    shares = tc.split or DEFAULT_SHARES
    if len(shares) != 3 or any(s <= 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(f"task.split={shares} must be three positive shares summing to 1 (train, val, test)")
    order = rng.permutation(n)
    a, b = round(n * shares[0]), round(n * (shares[0] + shares[1]))
    return {"train": np.sort(order[:a]), "val": np.sort(order[a:b]), "test": np.sort(order[b:])}


def _unknown_rate(xs: list[torch.Tensor]) -> float:
    n = sum(len(x) for x in xs)
    return sum(int((x == UNK).sum()) for x in xs) / max(n, 1)


def _sentences(inputs: Any) -> list[list[str]]:
    if isinstance(inputs, str | Path):
        path = Path(inputs).expanduser()
        if not path.is_file():
            raise DataError(f"{path} does not exist; give a CoNLL file (one token per line, blank line between "
                            f"sentences)")  # fmt: skip
        return read_conll(path, tagged=False)[0]
    if isinstance(inputs, list) and inputs and all(isinstance(s, str | list) for s in inputs):
        sentences = [s.split() if isinstance(s, str) else [str(w) for w in s] for s in inputs]
        if all(sentences):
            return sentences
    raise DataError("give a CoNLL file, or a non-empty list of sentences (token lists or strings); none may be empty")
