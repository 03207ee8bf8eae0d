"""Sequence-to-sequence translation: teacher-forced training of an encoder-decoder, decoding with greedy or beam
search, and BLEU/chrF with sacrebleu against a copy-the-source baseline.

Validation decodes greedily every epoch (early stopping uses the teacher-forced validation loss); test decodes with
`task.beam` (1 = greedy) and `task.length_penalty`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqarena import extras
from seqarena.config import RunConfig
from seqarena.data.pairs import load_pairs, normalise
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.ranges import FRACTION, NON_NEGATIVE, at_least, opt
from seqarena.registry import encdec_names, get_encdec, get_model, register_task
from seqarena.sizing import solve_width
from seqarena.splits import SPLITS
from seqarena.tasks.base import COST, Column, Distillable, Metric, Requires, Task, refuse_unless_default
from seqarena.tasks.decode import beam_search, greedy

BLEU = "BLEU and chrF for sequence-to-sequence"


@dataclass(kw_only=True)
class Seq2SeqConfig:
    name: Literal["seq2seq"] = "seq2seq"
    data: str = "eng-fra"  # eng-fra, multi30k, synthetic-reverse/-sort/-dates, or a tab-separated pair file
    data_args: dict[str, Any] = field(default_factory=dict)  # synthetic tasks: n, length, seed
    source: str | None = None  # language codes: eng-fra en/fr (default en -> fr), multi30k de/en/fr (de -> en)
    target: str | None = None
    tokenizer: Literal["word", "char"] | None = None  # None: word for text, char for the synthetic tasks
    min_freq: int = opt(1, at_least(1))  # rarer units become <unk>
    attention: Literal["none", "bahdanau", "luong"] = "bahdanau"  # recurrent models (also `model.attention`)
    beam: int = opt(1, at_least(1))  # test decoding: 1 = greedy, else beam search of this width
    length_penalty: float = opt(0.6, NON_NEGATIVE)  # beam search: GNMT alpha (0: none)
    max_decode: int | None = opt(None, at_least(1))  # longest output; None: the longest training target + 8
    label_smoothing: float = opt(0.0, FRACTION)


SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)


@dataclass
class Vocab:
    tokens: list[str]  # SPECIALS first
    unit: str  # word or char

    @classmethod
    def build(cls, texts: list[str], unit: str, min_freq: int) -> Vocab:
        counts = Counter(t for text in texts for t in split_units(text, unit))
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls([*SPECIALS, *kept], unit)

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text: str) -> list[int]:
        return [self.index.get(t, UNK) for t in split_units(text, self.unit)]

    def decode(self, ids: list[int]) -> str:
        pieces = [self.tokens[i] for i in ids if i >= len(SPECIALS) or i == UNK]
        return (" " if self.unit == "word" else "").join(pieces)


def split_units(text: str, unit: str) -> list[str]:
    return text.split() if unit == "word" else list(text)


BLEU = Metric("bleu", "test BLEU", True)


@register_task("seq2seq")
class Seq2SeqTask(Task):
    Config = Seq2SeqConfig
    requires = Requires(encdec=True)
    metric = BLEU
    quality = (BLEU, Metric("chrf", "test chrF", True), Metric("exact_match", "test exact match", True))
    columns = (
        Column("test BLEU", "test_bleu", 2, True),
        Column("test chrF", "test_chrf", 2, True),
        *COST,
        Column("translate b1 ms", "latency_b1_ms", 2),
    )
    references = {"copy_bleu": "copying the source sentence scores BLEU {value:.2f} on the same test pairs."}
    loss_name = "cross-entropy (nats/token)"
    adopts = ("attention",)  # the decoder's attention belongs to the task
    baseline = ("bleu", "copy_bleu")

    @classmethod
    def explain(cls, settings: dict[str, Any]) -> list[str]:
        beam = settings.get("beam") or 1
        decoding = "greedy decoding" if beam == 1 else f"beam search of width {beam}"
        return [f"BLEU and chrF (sacrebleu) score the test translations, made with {decoding}, against the "
                f"references; copying the source is the baseline. Tokens: {settings.get('tokenizer')}."]  # fmt: skip

    def __init__(self, cfg: RunConfig, run_dir: Path | None = None) -> None:
        extras.need("sacrebleu", "seq2seq", BLEU)  # before any training: its metrics need it
        self.notes = []
        tc = cfg.task
        pairs = load_pairs(tc.data, tc.data_args, tc.source, tc.target)
        self.unit = tc.tokenizer or pairs.tokenizer
        src_train, tgt_train = pairs.splits["train"]
        if run_dir is not None:
            art = self.load_artifacts(run_dir)
            self.src_vocab, self.tgt_vocab = Vocab(art["src_vocab"], art["unit"]), Vocab(art["tgt_vocab"], art["unit"])
        else:
            self.src_vocab = Vocab.build(src_train, self.unit, tc.min_freq)
            self.tgt_vocab = Vocab.build(tgt_train, self.unit, tc.min_freq)
        self.texts = pairs.splits
        self.ids = {
            s: ([torch.tensor(self.src_vocab.encode(x) or [UNK]) for x in pairs.splits[s][0]],
                [torch.tensor([BOS, *self.tgt_vocab.encode(y), EOS]) for y in pairs.splits[s][1]])
            for s in SPLITS
        }  # fmt: skip
        self.longest = max(len(t) for t in self.ids["train"][1])
        self.data_name, self.data_sha256 = pairs.name, pairs.sha256
        self.cfg = self.resolve(cfg)
        self.max_decode = self.cfg.task.max_decode

    def resolve(self, cfg: RunConfig) -> RunConfig:
        tc = cfg.task
        self.check_model(get_model(cfg.model.name), cfg.model)
        form = get_encdec(cfg.model.name)
        if not form.attention:
            why = f"model '{cfg.model.name}' attends to the source with its own cross-attention"
            refuse_unless_default(tc, "task.attention", why)
        refuse_unless_default(
            cfg.train, "train.grad_checkpointing", "the encoder-decoders do not checkpoint yet; remove the option"
        )
        tc = replace(tc, tokenizer=self.unit, max_decode=tc.max_decode or self.longest + 8)
        return solve_width(replace(cfg, task=tc), self.build_model)

    @classmethod
    def check_model(cls, model_cls: type, model_cfg: Any) -> None:
        if get_encdec(model_cls.name) is None:
            raise ConfigError(
                f"model '{model_cls.name}' has no encoder-decoder form yet; seq2seq takes {', '.join(encdec_names())}"
            )
        super().check_model(model_cls, model_cfg)

    def values_checksum(self) -> str:
        return hashlib.sha256(json.dumps(self.texts["train"]).encode()).hexdigest()

    def build_model(self, cfg: RunConfig) -> nn.Module:
        return make_model(cfg, len(self.src_vocab.tokens), len(self.tgt_vocab.tokens))

    @classmethod
    def export_graphs(cls, model: nn.Module, artifacts: dict[str, Any]) -> list[Any]:
        from seqarena.tasks.seq2seq_export import export_graphs

        return export_graphs(model, artifacts)

    @classmethod
    def onnx_model(cls, run: Any, graphs: Any) -> nn.Module:
        from seqarena.tasks.seq2seq_export import onnx_model

        return onnx_model(run, graphs)

    @classmethod
    def load_model(cls, cfg: RunConfig, artifacts: dict[str, Any]) -> nn.Module:
        return make_model(cfg, len(artifacts["src_vocab"]), len(artifacts["tgt_vocab"]))

    def n_train(self) -> int:
        return len(self.ids["train"][0])

    def train_batches(self, batch_size: int, generator: torch.Generator):
        src, tgt = self.ids["train"]
        order = torch.randperm(len(src), generator=generator).tolist()
        for i in range(0, len(order), batch_size):
            take = order[i : i + batch_size]
            yield batch_pairs([src[j] for j in take], [tgt[j] for j in take])

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        src, mask, tgt_in, tgt_out = batch
        return self._cross_entropy(model(src, mask, tgt_in), tgt_out)  # logits (B, T, V)

    def _cross_entropy(self, logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD,
            label_smoothing=self.cfg.task.label_smoothing,
        )  # fmt: skip

    def why_no_distillation(self) -> str | None:
        return None

    def why_not_teacher(self, artifacts: dict[str, Any]) -> str | None:
        if artifacts.get("src_vocab") != self.src_vocab.tokens or artifacts.get("tgt_vocab") != self.tgt_vocab.tokens:
            return "its vocabularies differ from this run's; give both runs the same task.* tokenizer options"
        return None

    def distill_outputs(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> Distillable:
        """Word-level distillation (Kim & Rush, 2016): the next-token distributions under teacher forcing."""
        src, mask, tgt_in, tgt_out = batch
        logits = model(src, mask, tgt_in)  # (B, T, V)
        return Distillable(self._cross_entropy(logits, tgt_out), logits, "logits", tgt_out != PAD)

    def translate_ids(self, model: nn.Module, srcs: list[torch.Tensor], beam: int, batch_size: int) -> list[list[int]]:
        """Decoded target ids for each source, batched by length (results in input order)."""
        order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
        out: list[list[int]] = [[] for _ in srcs]
        size = batch_size if beam == 1 else max(1, batch_size // beam)
        for i in range(0, len(order), size):
            take = order[i : i + size]
            src, mask = pad_batch([srcs[j] for j in take])
            if beam == 1:
                hyps = greedy(model, src, mask, self.max_decode, BOS, EOS)
            else:
                hyps = beam_search(model, src, mask, beam, self.max_decode, BOS, EOS, self.cfg.task.length_penalty)
            for j, h in zip(take, hyps, strict=True):
                out[j] = h
        return out

    def evaluate(self, model: nn.Module, split: str, batch_size: int, device: torch.device) -> dict[str, Any]:
        sacrebleu = extras.need("sacrebleu", "seq2seq", BLEU)
        was_training = model.training
        model.eval()
        src, tgt = self.ids[split]
        total, count = 0.0, 0
        with torch.inference_mode():
            for i in range(0, len(src), batch_size):
                s, mask, tin, tout = batch_pairs(src[i : i + batch_size], tgt[i : i + batch_size])
                logits = model(s, mask, tin)
                total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1),
                                               ignore_index=PAD, reduction="sum"))  # fmt: skip
                count += int((tout != PAD).sum())
        beam = 1 if split == "val" else self.cfg.task.beam
        hyps = [self.tgt_vocab.decode(h) for h in self.translate_ids(model, src, beam, batch_size)]
        model.train(was_training)
        sources, refs = self.texts[split]
        spaced = (lambda t: " ".join(t)) if self.tgt_vocab.unit == "char" else (lambda t: t)  # char BLEU on chars
        bleu_refs = [[spaced(r) for r in refs]]
        return {
            "loss": total / max(count, 1),
            "ppl": math.exp(min(total / max(count, 1), 700)),
            "bleu": sacrebleu.corpus_bleu([spaced(h) for h in hyps], bleu_refs, force=True).score,
            "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
            "exact_match": sum(h == r for h, r in zip(hyps, refs, strict=True)) / max(len(refs), 1),
            "copy_bleu": sacrebleu.corpus_bleu([spaced(x) for x in sources], bleu_refs, force=True).score,  # baseline
            "sentences": len(refs),
            "decoding": "greedy" if beam == 1 else f"beam {beam}, length penalty {self.cfg.task.length_penalty}",
            "examples": [
                {"source": s, "reference": r, "output": h}
                for s, r, h in zip(sources[:5], refs[:5], hyps[:5], strict=True)
            ],
        }

    def artifacts(self) -> dict[str, Any]:
        return {
            "data": self.data_name,
            "unit": self.src_vocab.unit,
            "src_vocab": self.src_vocab.tokens,
            "tgt_vocab": self.tgt_vocab.tokens,
            "max_decode": self.max_decode,
            "splits": {s: len(self.ids[s][0]) for s in SPLITS},
        }

    def profile(self, model: nn.Module, run_dir: Path, training: dict[str, Any] | None = None) -> dict[str, Any]:
        """Milliseconds to translate one test sentence (greedy, batch 1) and 64 at once."""
        from seqarena.profile import timed

        srcs, out = self.ids["test"][0], super().profile(model, run_dir, training)
        model.eval()
        for batch in (1, 64):
            take = [srcs[i % len(srcs)] for i in range(batch)]
            lat = timed(lambda take=take, b=batch: self.translate_ids(model, take, 1, b), 10, warmup=2)
            out[f"latency_b{batch}_ms"], out[f"latency_b{batch}_p95_ms"] = lat["median_ms"], lat["p95_ms"]
        return out

    @classmethod
    def translate(cls, run: Any, texts: list[str], *, beam: int | None = None, attention: bool = False) -> dict:
        """Translate sentences with a finished run: outputs and speed; with `attention` (greedy only), the first
        sentence's attention over the source ({"source", "output", "weights" (T, S)}) for a heatmap."""
        if not texts:
            raise SeqarenaError("nothing to translate: give a sentence or lines on stdin")
        beam = run.config.task.beam if beam is None else beam
        if beam < 1:
            raise SeqarenaError("--beam must be >= 1 (1 = greedy)")
        if attention and beam != 1:
            raise SeqarenaError("--plot shows greedy decoding's attention; use it with --beam 1")
        started = time.perf_counter()
        outputs, weights = translate(run.model, run.artifacts, texts, beam, run.config.task.length_penalty)
        seconds = time.perf_counter() - started
        if attention and weights[0]["weights"] is None:
            raise SeqarenaError(f"{run.run_dir}: the model has no attention to plot (task.attention=none)")
        return {
            "outputs": outputs,
            "seconds": round(seconds, 4),
            "sentences_per_s": round(len(texts) / max(seconds, 1e-9), 2),
            "threads": torch.get_num_threads(),
            "decoding": "greedy" if beam == 1 else f"beam {beam}",
            "attention": weights[0] if attention else None,
        }


def pad_batch(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=PAD)  # (B, S)
    lengths = torch.tensor([len(s) for s in seqs])
    return x, torch.arange(x.shape[1])[None, :] < lengths[:, None]


def batch_pairs(src: list[torch.Tensor], tgt: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(B, S) sources, (B, S) mask, (B, T) decoder inputs (<bos> y), (B, T) targets (y <eos>), PAD-padded."""
    s, mask = pad_batch(src)
    t = nn.utils.rnn.pad_sequence(tgt, batch_first=True, padding_value=PAD)  # (B, T + 1)
    return s, mask, t[:, :-1], t[:, 1:]


def make_model(cfg: RunConfig, src_vocab: int, tgt_vocab: int) -> nn.Module:
    return get_encdec(cfg.model.name).build(cfg.model, src_vocab, tgt_vocab, cfg.task.attention)


def translate(
    model: nn.Module, art: dict[str, Any], texts: list[str], beam: int, alpha: float
) -> tuple[list[str], list[dict[str, Any]]]:
    """Raw sentences -> outputs, and per sentence its source and output units with the attention over the source
    at each output step ((T, S), greedy decoding only; None otherwise)."""
    src_vocab, tgt_vocab = Vocab(art["src_vocab"], art["unit"]), Vocab(art["tgt_vocab"], art["unit"])
    outputs, attention = [], []
    model.eval()
    for text in texts:
        clean = normalise(text) if art["unit"] == "word" else text.strip()
        ids = torch.tensor(src_vocab.encode(clean) or [UNK])
        src, mask = pad_batch([ids])
        model.keep_attention, model.last_attention = True, []
        if beam == 1:
            hyp = greedy(model, src, mask, art["max_decode"], BOS, EOS)[0]
        else:
            hyp = beam_search(model, src, mask, beam, art["max_decode"], BOS, EOS, alpha)[0]
        weights = None
        if model.last_attention and beam == 1:
            weights = torch.stack([a[0] for a in model.last_attention])[: len(hyp) + 1]  # (T, S) incl. <eos>
        model.keep_attention, model.last_attention = False, []
        outputs.append(tgt_vocab.decode(hyp))
        units = [tgt_vocab.tokens[i] for i in hyp] + ["<eos>"]
        attention.append({"source": split_units(clean, art["unit"]) or ["<unk>"], "output": units, "weights": weights})
    return outputs, attention
