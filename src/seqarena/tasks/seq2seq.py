"""Sequence-to-sequence translation: teacher-forced training of an encoder-decoder, decoding with greedy or beam
search, and BLEU/chrF with sacrebleu against a copy-the-source baseline.

Validation decodes greedily every epoch (early stopping uses the teacher-forced validation loss); test decodes with
`task.beam` (1 = greedy) and `task.length_penalty`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.config import RunConfig
from seqarena.data.pairs import SPLITS, load_pairs, normalise
from seqarena.errors import ConfigError
from seqarena.models.encdec import RecurrentEncDec, TransformerEncDec
from seqarena.models.rnn import _Recurrent
from seqarena.models.transformer import Transformer
from seqarena.registry import get_model
from seqarena.sizing import has_width, match_width
from seqarena.tasks.decode import beam_search, greedy

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


class Seq2SeqTask:
    def __init__(self, cfg: RunConfig, vocabs: tuple[Vocab, Vocab] | None = None) -> None:
        tc = cfg.task
        if tc.beam < 1:
            raise ConfigError(f"task.beam={tc.beam} must be >= 1 (1 = greedy)")
        pairs = load_pairs(tc.data, tc.data_args, tc.source, tc.target)
        unit = tc.tokenizer or pairs.tokenizer
        src_train, tgt_train = pairs.splits["train"]
        if vocabs is None:
            vocabs = (Vocab.build(src_train, unit, tc.min_freq), Vocab.build(tgt_train, unit, tc.min_freq))
        self.src_vocab, self.tgt_vocab = vocabs
        self.texts = pairs.splits
        self.ids = {
            s: ([torch.tensor(self.src_vocab.encode(x) or [UNK]) for x in pairs.splits[s][0]],
                [torch.tensor([BOS, *self.tgt_vocab.encode(y), EOS]) for y in pairs.splits[s][1]])
            for s in SPLITS
        }  # fmt: skip
        longest = max(len(t) for t in self.ids["train"][1])
        self.max_decode = tc.max_decode or longest + 8
        cfg.task = replace(tc, tokenizer=unit, max_decode=self.max_decode)
        self.cfg, self.name, self.data_sha256 = cfg, pairs.name, pairs.sha256
        cfg.model = self.sized(cfg.model)

    def values_checksum(self) -> str:
        return hashlib.sha256(json.dumps(self.texts["train"]).encode()).hexdigest()

    def sized(self, model_cfg: Any) -> Any:
        if not (has_width(model_cfg) and model_cfg.params):
            return model_cfg
        return match_width(model_cfg, self._make, model_cfg.params)

    def _make(self, model_cfg: Any) -> nn.Module:
        return make_model(replace(self.cfg, model=model_cfg), len(self.src_vocab.tokens), len(self.tgt_vocab.tokens))

    def check_model(self, model_cfg: Any) -> None:
        self._make(self.sized(model_cfg))

    def build_model(self) -> nn.Module:
        return self._make(self.cfg.model)

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
        logits = model(src, mask, tgt_in)  # (B, T, V)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD,
            label_smoothing=self.cfg.task.label_smoothing,
        )  # fmt: skip

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
        import sacrebleu

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
            "data": self.name,
            "unit": self.src_vocab.unit,
            "src_vocab": self.src_vocab.tokens,
            "tgt_vocab": self.tgt_vocab.tokens,
            "max_decode": self.max_decode,
            "splits": {s: len(self.ids[s][0]) for s in SPLITS},
        }

    def write_artifacts(self, run_dir: Path) -> None:
        from seqarena.training.checkpoint import write_json

        write_json(run_dir / "task.json", self.artifacts())

    @classmethod
    def for_run(cls, cfg: RunConfig, run_dir: Path) -> Seq2SeqTask:
        art = json.loads((run_dir / "task.json").read_text())
        return cls(cfg, (Vocab(art["src_vocab"], art["unit"]), Vocab(art["tgt_vocab"], art["unit"])))

    @staticmethod
    def load_model(cfg: RunConfig, run_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
        art = json.loads((run_dir / "task.json").read_text())
        return make_model(cfg, len(art["src_vocab"]), len(art["tgt_vocab"])), art


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
    cls = get_model(cfg.model.name)
    if issubclass(cls, _Recurrent):
        return RecurrentEncDec(cls, cfg.model, src_vocab, tgt_vocab, cfg.task.attention)
    if cls is Transformer:
        return TransformerEncDec(cfg.model, src_vocab, tgt_vocab)
    raise ConfigError(
        f"model '{cfg.model.name}' has no encoder-decoder form yet; seq2seq takes rnn, lstm, gru or transformer"
    )


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
