"""Language modelling: a tokenised corpus as one stream, perplexity over whole splits.

Streaming models (recurrent, SSM, TCN: a fixed-size state that forgets) train on `batch_size` parallel streams
with their state carried from window to window and detached in between (truncated BPTT), and evaluate each split
as one stream with the state carried throughout. Other causal models (Transformers, linear attention, attention
hybrids) train on shuffled blocks of `block_size` tokens and evaluate on disjoint blocks (or sliding windows,
`task.eval_stride`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from seqarena.config import RunConfig
from seqarena.data import registry as datasets
from seqarena.data.text import load_corpus
from seqarena.data.tokenizers import Tokenizer, from_json, train_tokenizer
from seqarena.errors import ConfigError, DataError, SeqarenaError
from seqarena.files import read_json, write_json
from seqarena.models.base import detach_state
from seqarena.ranges import UNIT, at_least, opt
from seqarena.registry import get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import Column, Distillable, Metric, Requires, Task, refuse_unless_default
from seqarena.tasks.lm_model import LMModel, stream_nll, window_nll

ADAPTIVE_FROM = 20_000  # head=auto: an adaptive softmax from this vocabulary size
STREAM_WINDOW = 512  # evaluation window of a carried-state stream (any length gives the same result)
GEN_TOKENS = 200  # the arena's generation profile: new tokens per sample


@dataclass(kw_only=True)
class LMConfig:
    name: Literal["lm"] = "lm"
    data: str = "tinyshakespeare"  # a registered corpus, or a path to a text file or a folder of .txt files
    tokenizer: Literal["char", "byte", "word", "bpe"] | None = None  # None: the corpus default (else char)
    vocab_size: int | None = opt(None, at_least(1))
    # bpe: the vocabulary to learn (default 8000); word: keep the most frequent
    min_freq: int = opt(1, at_least(1))  # word: rarer words become <unk>
    block_size: int = opt(128, at_least(1))
    # context length of a training window (truncated-BPTT length for recurrent models)
    batching: Literal["auto", "stream", "blocks"] = "auto"  # auto: stream (TBPTT) for streaming models, else blocks
    head: Literal["auto", "full", "adaptive"] = "auto"  # auto: adaptive softmax from 20k tokens of vocabulary
    cutoffs: list[int] | None = opt(None, at_least(1))  # adaptive softmax cluster bounds (default: vocab/16, vocab/4)
    tie_weights: bool = False  # share the input embedding with the output layer (also `model.tie_weights`)
    eval_stride: int | None = opt(None, at_least(1))
    # blocks models: score sliding windows with this stride (None: disjoint blocks)
    split: list[float] | None = opt(None, UNIT)  # user corpora: train/val/test shares (default 0.9, 0.05, 0.05)
    encoding: str = "utf-8"


PPL = Metric("ppl", "test perplexity")


@register_task("lm")
class LMTask(Task):
    Config = LMConfig
    requires = Requires(causal=True)
    metric = PPL
    quality = (PPL, Metric("bpc", "test bits per character"))
    columns = (Column("test ppl", "test_ppl", 3, True), Column("test bpc", "test_bpc", 4, True),
               Column("params", "params", 0), Column("train s", "train_seconds", 1),
               Column("train tokens/s", "train_tokens_per_s", 0), Column("to best s", "time_to_best", 1),
               Column("gen tokens/s", "gen_tokens_per_s", 0), Column("repetition", "repetition_rate", 3),
               Column("distinct-2", "distinct_2", 3), Column("copied 4-grams", "copy_rate", 3))  # fmt: skip
    references = {"unigram_ppl": "a unigram model (training-split token frequencies) scores perplexity {value:.2f} on "
                  "the same test tokens."}  # fmt: skip
    loss_name = "cross-entropy (nats/token)"
    length_key = "block_size"  # other context lengths: disjoint windows of that many tokens from a fresh state
    adopts = ("tie_weights",)  # the embedding and output layer belong to the task; accept the common spelling
    baseline = ("ppl", "unigram_ppl")

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        self.notes = []
        tc = cfg.task
        if datasets.is_path(tc.data) or Path(tc.data).expanduser().is_dir():
            tc = replace(tc, data=str(Path(tc.data).expanduser().resolve()))
        corpus = load_corpus(tc.data, tc.encoding, tc.split)
        self.kind = tc.tokenizer or corpus.default_tokenizer
        if run_dir is not None:
            self.tokenizer = load_tokenizer(run_dir)
        else:
            self.tokenizer = train_tokenizer(self.kind, corpus.texts["train"], tc.vocab_size, tc.min_freq)
        self.train_text = corpus.texts["train"]
        self.ids = {s: torch.from_numpy(self.tokenizer.encode_corpus(corpus.texts[s])) for s in SPLITS}
        self.chars = {s: len(corpus.texts[s]) for s in SPLITS}
        for split in SPLITS:
            if len(self.ids[split]) < 2:
                raise DataError(f"the {split} split of {tc.data} has fewer than 2 tokens; give more text")
        V = self.tokenizer.vocab_size
        counts = torch.bincount(self.ids["train"], minlength=V)
        self.rank = torch.empty(V, dtype=torch.long)
        self.rank[torch.argsort(-counts, stable=True)] = torch.arange(V)
        self.unigram_logp = ((counts + 1).double() / (counts.sum() + V)).log()  # (V,)
        self.data_sha256 = corpus.sha256
        self.test_is_val = corpus.test_is_val
        self.cfg = cfg = self.resolve(replace(cfg, task=tc))
        self.batch_size, self.carry = cfg.train.batch_size, None
        self.stream = cfg.task.batching == "stream"
        self.windows = self._count_windows(len(self.ids["train"]))

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        return [f"Perplexity is exp(mean cross-entropy per {settings.get('tokenizer')} token) on the test text; bpc is "
                f"bits per character. Models read {settings.get('block_size')} tokens at a time."]  # fmt: skip

    @classmethod
    def model_defaults(cls, model_cls: type) -> dict[str, Any]:
        """A language model must not see the next token: backbones with a `causal` option default to it."""
        return {"causal": True} if "causal" in {f.name for f in fields(model_cls.Config)} else {}

    def resolve(self, cfg: RunConfig) -> RunConfig:
        tc, V = cfg.task, self.tokenizer.vocab_size
        model_cls = get_model(cfg.model.name)
        self.check_model(model_cls, cfg.model)
        batching = _batching(tc.batching, model_cls, cfg.model)
        head = tc.head if tc.head != "auto" else ("adaptive" if V >= ADAPTIVE_FROM and not tc.tie_weights else "full")
        cutoffs = (tc.cutoffs or [max(V // 16, 1), max(V // 4, 2)]) if head == "adaptive" else None
        if head != "adaptive":
            refuse_unless_default(tc, "task.cutoffs", "they bound the clusters of an adaptive softmax (task.head)")
        if cutoffs is not None and (sorted(set(cutoffs)) != cutoffs or cutoffs[0] < 1 or cutoffs[-1] >= V):
            raise ConfigError(f"task.cutoffs={cutoffs} must increase strictly within 1..{V - 1} (the vocabulary)")
        if batching == "stream":
            refuse_unless_default(tc, "task.eval_stride", "a streaming model carries its state through the whole split")
        tc = replace(tc, tokenizer=self.kind, batching=batching, head=head, cutoffs=cutoffs)
        train = replace(cfg.train, batch_size=32) if cfg.train.batch_size == "auto" else cfg.train  # n_train needs it
        return solve_width(replace(cfg, task=tc, train=train), self.build_model)

    def build_model(self, cfg: RunConfig) -> LMModel:
        return make_model(cfg, self.rank)

    @classmethod
    def onnx_model(cls, run: Any, graphs: Any) -> nn.Module:
        from seqarena.tasks.lm_export import OnnxLM

        return OnnxLM(run.model, graphs)

    @classmethod
    def streamer(cls, run: Any, graphs: Any) -> Any:
        from seqarena.tasks.lm_export import LMStreamer

        return LMStreamer(run, graphs)

    @classmethod
    def export_graphs(cls, model: nn.Module, artifacts: dict[str, Any]) -> list[Any]:
        from seqarena.tasks.lm_export import export_graphs

        return export_graphs(model, artifacts)

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> LMModel:
        rank = artifacts.get("rank")
        return make_model(cfg, torch.tensor(rank) if rank else torch.arange(artifacts["vocab_size"]))

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

    def why_no_curriculum(self) -> str | None:
        why = "task.batching=stream carries the state across whole blocks; set task.batching=blocks"
        return why if self.stream else None

    why_no_distillation = why_no_curriculum  # a teacher would need a carried state of its own

    @staticmethod
    def distill_outputs(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        x, y = batch  # (B, T) inputs and next tokens
        h, _ = model.hidden(x)  # (B, T, D)
        logp = model.log_probs(h.reshape(-1, h.shape[-1])).view(*x.shape, -1)  # (B, T, V), a softmax's logits
        return Distillable(-logp.gather(-1, y[..., None]).mean(), logp, "logits")

    @staticmethod
    def shorten(batch: tuple[torch.Tensor, ...], length: int) -> tuple[torch.Tensor, ...]:
        return batch[0][:, :length], batch[1][:, :length]  # (B, length) inputs and their next tokens

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
            # the adaptive softmax orders tokens by training frequency; loading must not recount the corpus
            "rank": self.rank.tolist() if tc.head == "adaptive" else None,
        }

    def save_artifacts(self, run_dir: Path) -> None:
        write_json(run_dir / "tokenizer.json", self.tokenizer.to_json())
        super().save_artifacts(run_dir)

    @classmethod
    def load_artifacts(cls, run_dir: Path) -> dict[str, Any]:
        return {**super().load_artifacts(run_dir), "tokenizer_obj": load_tokenizer(run_dir)}

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Generation speed (200 new tokens, batch 1, cache on), repetition and diversity of 4 seeded samples, and
        the share of their word 4-grams copied from the training text."""
        from seqarena.tasks.generate import Sampling, generate_text
        from seqarena.tasks.lm_metrics import NgramIndex, generation_metrics

        block = self.cfg.task.block_size
        _, speed = generate_text(model, self.tokenizer, "", Sampling(max_new_tokens=GEN_TOKENS, temperature=0), block)
        sampling = Sampling(max_new_tokens=GEN_TOKENS, top_k=40, seed=0)
        texts, _ = generate_text(model, self.tokenizer, "", sampling, block, num_samples=4)
        per_sample = (training or {}).get("samples_per_s")
        return {
            **super().profile(model, run_dir, training),
            "train_tokens_per_s": per_sample * block if per_sample else None,  # a sample is one window of tokens
            "gen_tokens_per_s": speed.tokens_per_s,
            "gen_ms_per_token": 1e3 / max(speed.tokens_per_s, 1e-9),
            **generation_metrics(texts, NgramIndex(self.train_text, 4)),
            "extras": {"samples": [t[:300] for t in texts]},
        }

    @classmethod
    def generate(
        cls,
        run: Any,
        prompt: str = "",
        *,
        num_samples: int = 1,
        stop: list[str] | None = None,
        on_text: Callable[[str], None] | None = None,
        **sampling: Any,
    ) -> dict[str, Any]:
        """Sample text from a finished run: the samples, speed (tokens/s, words/s, threads) and repetition and
        diversity metrics. `sampling` takes the fields of seqarena.tasks.generate.Sampling."""
        from seqarena.tasks.generate import Sampling, generate_text
        from seqarena.tasks.lm_metrics import generation_metrics

        if num_samples < 1:
            raise SeqarenaError("--num-samples must be >= 1")
        art = run.artifacts
        texts, gen = generate_text(
            run.model, art["tokenizer_obj"], prompt, Sampling(**sampling), art["block_size"], num_samples, stop, on_text
        )
        words = sum(len(t.split()) for t in texts)
        return {
            "samples": texts,
            "new_tokens": gen.new_tokens,
            "batch": gen.batch,
            "seconds": round(gen.seconds, 4),
            "tokens_per_s": round(gen.tokens_per_s, 2),
            "words_per_s": round(words / max(gen.seconds, 1e-9), 2),
            "threads": gen.threads,
            "kv_cache": gen.cache,
            **{k: round(v, 4) for k, v in generation_metrics(texts).items()},
        }


def _batching(requested: str, model_cls: type, model_cfg: Any) -> str:
    """stream or blocks for this model."""
    cap = model_cls.capabilities_of(model_cfg)
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
    try:
        return from_json(read_json(path))
    except Exception as exc:  # json's or the tokenizers library's own error types
        raise DataError(f"{path} is damaged ({type(exc).__name__}); train the run again") from None


def make_model(cfg: RunConfig, rank: torch.Tensor) -> LMModel:
    tc = cfg.task
    net = get_model(cfg.model.name)(cfg.model)
    model = LMModel(net, len(rank), tc.head, tc.cutoffs or [], tc.tie_weights, rank)
    model.grad_checkpointing = cfg.train.grad_checkpointing
    return model
