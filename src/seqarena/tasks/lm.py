"""Language modelling: a tokenised corpus as one stream, perplexity over whole splits.

Streaming models (recurrent, SSM, TCN: a fixed-size state that forgets) train on `batch_size` parallel streams
with their state carried from window to window and detached in between (truncated BPTT), and evaluate each split
as one stream with the state carried throughout. Other causal models (Transformers, linear attention, attention
hybrids) train on shuffled blocks of `block_size` tokens and evaluate on disjoint blocks (or sliding windows,
`task.eval_stride`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.text import SPLITS, load_corpus
from seqarena.data.tokenizers import Tokenizer, from_json, train_tokenizer
from seqarena.errors import ConfigError, DataError
from seqarena.models.base import detach_state
from seqarena.registry import get_model
from seqarena.sizing import has_width, match_width
from seqarena.tasks.lm_model import LMModel

ADAPTIVE_FROM = 20_000  # head=auto: an adaptive softmax from this vocabulary size
STREAM_WINDOW = 512  # evaluation window of a carried-state stream (any length gives the same result)


class LMTask:
    def __init__(self, cfg: RunConfig, tokenizer: Tokenizer | None = None) -> None:
        tc = cfg.task
        if datasets.is_path(tc.data) or Path(tc.data).expanduser().is_dir():
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        if tc.block_size < 1:
            raise ConfigError(f"task.block_size={tc.block_size} must be >= 1")
        corpus = load_corpus(tc.data, tc.encoding, tc.split)
        kind = tc.tokenizer or corpus.default_tokenizer
        self.tokenizer = tokenizer or train_tokenizer(kind, corpus.texts["train"], tc.vocab_size, tc.min_freq)
        self.ids = {s: torch.from_numpy(self.tokenizer.encode_corpus(corpus.texts[s])) for s in SPLITS}
        self.chars = {s: len(corpus.texts[s]) for s in SPLITS}
        for split in SPLITS:
            if len(self.ids[split]) < 2:
                raise DataError(f"the {split} split of {tc.data} has fewer than 2 tokens; give more text")
        V = self.tokenizer.vocab_size
        batching = _batching(tc.batching, cfg.model)
        head = tc.head if tc.head != "auto" else ("adaptive" if V >= ADAPTIVE_FROM and not tc.tie_weights else "full")
        cutoffs = (tc.cutoffs or [max(V // 16, 1), max(V // 4, 2)]) if head == "adaptive" else None
        if cutoffs is not None and (sorted(set(cutoffs)) != cutoffs or cutoffs[0] < 1 or cutoffs[-1] >= V):
            raise ConfigError(f"task.cutoffs={cutoffs} must increase strictly within 1..{V - 1} (the vocabulary)")
        self.requested_batching = tc.batching
        cfg.task = tc = replace(tc, tokenizer=kind, batching=batching, head=head, cutoffs=cutoffs)
        self.cfg, self.batch_size, self.carry = cfg, cfg.train.batch_size, None
        self.stream = batching == "stream"
        self.windows = self._count_windows(len(self.ids["train"]))
        counts = torch.bincount(self.ids["train"], minlength=V)
        self.rank = torch.empty(V, dtype=torch.long)
        self.rank[torch.argsort(-counts, stable=True)] = torch.arange(V)
        self.unigram_logp = ((counts + 1).double() / (counts.sum() + V)).log()  # (V,)
        self.data_sha256 = corpus.sha256
        self.test_is_val = corpus.test_is_val
        cfg.model = self.sized(cfg.model)

    def _count_windows(self, n: int) -> int:
        T, B = self.cfg.task.block_size, self.batch_size
        need = B * T + T if self.stream else 2 * T
        if n < need:
            how = f"{B} streams (train.batch_size) of {T}" if self.stream else f"a block of {T}"
            raise DataError(
                f"the training split has {n:,} tokens, too few for {how} tokens (task.block_size); "
                f"lower them or give more text"
            )
        return math.ceil((n - T) // B / T) if self.stream else (n - T) // T

    def values_checksum(self) -> str:
        return hashlib.sha256(self.ids["train"].numpy().tobytes()).hexdigest()

    def sized(self, model_cfg: Any) -> Any:
        if not (has_width(model_cfg) and model_cfg.params):
            return model_cfg
        return match_width(model_cfg, lambda m: make_model(replace(self.cfg, model=m), self.rank), model_cfg.params)

    def check_model(self, model_cfg: Any) -> None:
        """Build (and size) this model for the task, so a bad option fails before any training."""
        raw = replace(self.cfg.task, batching=self.requested_batching)
        cfg = replace(self.cfg, task=replace(raw, batching=_batching(raw.batching, model_cfg)))
        make_model(replace(cfg, model=self.sized(model_cfg)), self.rank)

    def build_model(self) -> LMModel:
        return make_model(self.cfg, self.rank)

    def n_train(self) -> int:
        return self.windows * (self.batch_size if self.stream else 1)

    def train_batches(self, batch_size: int, generator: torch.Generator):
        ids, T = self.ids["train"], self.cfg.task.block_size
        offset = int(torch.randint(T, (1,), generator=generator))  # new window boundaries every epoch
        self.carry = None
        if self.stream:
            L = (len(ids) - T) // batch_size
            xs = ids[offset : offset + batch_size * L].view(batch_size, L)  # (B, L) parallel streams
            ys = ids[offset + 1 : offset + 1 + batch_size * L].view(batch_size, L)
            for i in range(0, L, T):
                yield xs[:, i : i + T], ys[:, i : i + T]
            return
        starts = offset + T * torch.randperm(self.windows, generator=generator)
        span = torch.arange(T + 1)
        for i in range(0, len(starts), batch_size):
            chunk = ids[starts[i : i + batch_size, None] + span]  # (b, T + 1)
            yield chunk[:, :-1], chunk[:, 1:]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        if not self.stream:
            return model(x, y)[0]
        if self.carry is None:
            self.carry = model.init_state(len(x), x.device)
        loss, state = model(x, y, self.carry)
        self.carry = detach_state(state)  # truncated BPTT: the state goes on, its gradient stops here
        return loss

    def context(self) -> str:
        T, stride = self.cfg.task.block_size, self.cfg.task.eval_stride
        if self.stream:
            return "one stream, state carried through the whole split"
        if stride:
            return f"sliding windows of {T} tokens, stride {stride} (each token scored once)"
        return f"disjoint blocks of {T} tokens (context restarts every block)"

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        ids = self.ids[split].to(device)
        if self.stream:
            total = stream_nll(model, ids, STREAM_WINDOW)
        else:
            total = window_nll(model, ids, self.cfg.task.block_size, self.cfg.task.eval_stride, batch_size)
        model.train(was_training)
        n = len(ids) - 1
        loss = total / n
        unigram = -float(self.unigram_logp[self.ids[split][1:]].sum()) / n
        return {
            "loss": loss,
            "ppl": math.exp(min(loss, 700)),
            "bits_per_token": loss / math.log(2),
            "bpc": total / math.log(2) / self.chars[split],
            "tokens": n,
            "unigram_ppl": math.exp(unigram),  # the baseline: training-split token frequencies (add-one)
            "context": self.context(),
        }

    def artifacts(self) -> dict[str, Any]:
        tc = self.cfg.task
        return {
            "tokenizer": tc.tokenizer,
            "vocab_size": self.tokenizer.vocab_size,
            "block_size": tc.block_size,
            "batching": tc.batching,
            "head": tc.head,
            "context": self.context(),
            "test_is_val": self.test_is_val,
            "splits": {s: {"tokens": len(self.ids[s]), "chars": self.chars[s]} for s in SPLITS},
        }

    def write_artifacts(self, run_dir: Path) -> None:
        from seqarena.training.checkpoint import write_json

        write_json(run_dir / "tokenizer.json", self.tokenizer.to_json())
        write_json(run_dir / "task.json", self.artifacts())

    @classmethod
    def for_run(cls, cfg: RunConfig, run_dir: Path) -> LMTask:
        """The task of a finished run, with the tokenizer it was trained with."""
        return cls(cfg, load_tokenizer(run_dir))

    @staticmethod
    def load_model(cfg: RunConfig, run_dir: Path) -> tuple[LMModel, dict[str, Any]]:
        art = json.loads((run_dir / "task.json").read_text())
        model = make_model(cfg, torch.arange(art["vocab_size"]))
        return model, {**art, "tokenizer_obj": load_tokenizer(run_dir)}


def _batching(requested: str, model_cfg: Any) -> str:
    """stream or blocks for this model; refuses models that cannot be language models."""
    cap = get_model(model_cfg.name)(model_cfg).capabilities()
    if "lm" not in cap.tasks:
        why = "bidirectional: it would see the next token" if cap.bidirectional else "not a causal backbone"
        raise ConfigError(f"model '{model_cfg.name}' cannot be a language model ({why})")
    batching = requested if requested != "auto" else ("stream" if cap.streaming else "blocks")
    if batching == "stream" and not cap.streaming:
        raise ConfigError(
            f"task.batching=stream needs a model that streams (a fixed-size state that forgets); "
            f"'{model_cfg.name}' works within a context window: use task.batching=blocks"
        )
    return batching


def load_tokenizer(run_dir: Path) -> Tokenizer:
    path = run_dir / "tokenizer.json"
    if not path.is_file():
        raise DataError(f"{run_dir} has no tokenizer.json; it is not a finished language-model run")
    return from_json(json.loads(path.read_text(encoding="utf-8")))


def make_model(cfg: RunConfig, rank: torch.Tensor) -> LMModel:
    tc = cfg.task
    net = get_model(cfg.model.name)(cfg.model)
    return LMModel(net, len(rank), tc.head, tc.cutoffs or [], tc.tie_weights, rank)


def stream_nll(model: LMModel, ids: torch.Tensor, window: int) -> float:
    """Total NLL of ids[1:] given everything before, as one stream with the state carried."""
    state = model.init_state(1, ids.device)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, len(ids) - 1, window):
        x = ids[i : i + window][None]  # (1, w)
        y = ids[i + 1 : i + 1 + window][None]
        x = x[:, : y.shape[1]]
        h, state = model.hidden(x, state)
        total += model.nll(h, y).double().sum().cpu()
    return float(total)


def window_nll(model: LMModel, ids: torch.Tensor, block: int, stride: int | None, batch_size: int) -> float:
    """Total NLL of ids[1:] with a context of at most `block` tokens: disjoint blocks, or sliding windows scoring only
    the tokens past the previous window's end."""
    n = len(ids) - 1
    windows = []  # (start, length, first scored position within the window)
    if not stride:
        windows = [(s, min(block, n - s), 0) for s in range(0, n, block)]
    else:
        if not 1 <= stride <= block:
            raise ConfigError(f"task.eval_stride={stride} must be within 1..task.block_size={block}")
        done = 0
        for s in range(0, n, stride):
            end = min(s + block, n)
            windows.append((s, end - s, done - s))
            done = end
            if end == n:
                break
    total = torch.zeros((), dtype=torch.float64)
    by_length: dict[int, list[tuple[int, int]]] = {}
    for s, length, first in windows:
        by_length.setdefault(length, []).append((s, first))
    for length, group in by_length.items():
        span = torch.arange(length + 1, device=ids.device)
        for i in range(0, len(group), batch_size):
            part = group[i : i + batch_size]
            chunk = ids[torch.tensor([s for s, _ in part], device=ids.device)[:, None] + span]  # (b, length + 1)
            h, _ = model.hidden(chunk[:, :-1])
            nll = model.nll(h, chunk[:, 1:])  # (b, length)
            keep = torch.arange(length, device=ids.device)[None] >= torch.tensor([f for _, f in part])[:, None]
            total += (nll * keep).double().sum().cpu()
    return float(total)
