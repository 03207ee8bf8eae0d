"""WikiText-2, word level: time to quality against the pytorch/examples word_language_model reference.

The reference is that example's 2x200 tied LSTM (embedding 200, dropout 0.2, batch 20, BPTT 35, SGD lr 20, full
softmax over 33,278 words); its 6 epochs reach a test perplexity of about 130. Running them takes hours here, so
the script times its training steps for `--ref-batches` batches (the same computation, written out plainly) and
extrapolates to 6 epochs. Then seqarena trains each model with the recipe below (adaptive softmax, AdamW, cosine
schedule) and reports test perplexity and the whole wall time (training and every evaluation) as JSON.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/wikitext2_time_to_quality.py \
        [--models lstm,gru,rnn,transformer] [--epochs 6] [--ref-batches 150] [--seconds S] [--params N]

`--seconds` adds a training-time budget to the `--epochs` cap: training stops at whichever ends first, and the
cosine schedule anneals over it. `--params` sizes the models other than the LSTM to N parameters (by default, to
the LSTM of the same invocation). The README's table gives every family the LSTM's budget:
`--epochs 12 --params 10989280 --seconds 4034`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import seqarena
from seqarena.config import build
from seqarena.tasks.lm import LMTask

REFERENCE_EPOCHS, TARGET_PPL = 6, 130.0


def recipe(model: dict, epochs: int, seconds: float | None = None) -> dict:
    return {
        "task": {"name": "lm", "data": "wikitext-2", "block_size": 70, "head": "adaptive", "cutoffs": [2000, 10000]},
        "model": model,
        "train": {"max_epochs": epochs, "max_seconds": seconds, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.01,
                  "warmup_steps": 100, "schedule": "cosine", "min_lr_ratio": 0.05, "clip_norm": 0.25,
                  "patience": None, "progress": False},
        "eval": {"batch_size": 64},
    }  # fmt: skip


MODELS = {
    "lstm": {"name": "lstm", "d_model": 256, "num_layers": 2, "dropout": 0.3},
    "gru": {"name": "gru", "num_layers": 2, "dropout": 0.3},
    "rnn": {"name": "rnn", "num_layers": 2, "dropout": 0.3},
    "transformer": {"name": "transformer", "num_layers": 4, "num_heads": 4, "dropout": 0.2},
}


class ReferenceLSTM(nn.Module):
    """The reference's model: embedding -> dropout -> 2-layer LSTM -> dropout -> tied full-softmax decoder."""

    def __init__(self, vocab: int, width: int = 200, layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, width)
        self.rnn = nn.LSTM(width, width, layers, dropout=dropout)
        self.decoder = nn.Linear(width, vocab)
        self.decoder.weight = self.encoder.weight
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)  # (T, B, D)
        return self.decoder(self.drop(out)), hidden  # (T, B, V)


def reference_tokens_per_s(train_ids: torch.Tensor, vocab: int, batches: int) -> float:
    torch.manual_seed(0)
    batch, bptt, lr = 20, 35, 20.0
    n = len(train_ids) // batch
    data = train_ids[: n * batch].view(batch, n).t().contiguous()  # (N, B) as the reference batchifies
    model = ReferenceLSTM(vocab).train()
    hidden = tuple(torch.zeros(2, batch, 200) for _ in range(2))
    tokens, started = 0, None
    for step, i in enumerate(range(0, n - 1, bptt)):
        if step == 5:  # the first steps warm up allocators; time the rest
            tokens, started = 0, time.perf_counter()
        if step == batches + 5:
            break
        seq = min(bptt, n - 1 - i)
        x, y = data[i : i + seq], data[i + 1 : i + 1 + seq]
        hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        out, hidden = model(x, hidden)
        F.cross_entropy(out.view(-1, vocab), y.reshape(-1)).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
        tokens += x.numel()
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="lstm")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--ref-batches", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=None, help="training-time budget per model")
    parser.add_argument("--params", type=int, default=None, help="size the non-LSTM models to this many parameters")
    args = parser.parse_args()
    task = LMTask(build(recipe(MODELS["lstm"], args.epochs)))
    train_ids, vocab = task.ids["train"], task.tokenizer.vocab_size
    ref_tps = reference_tokens_per_s(train_ids, vocab, args.ref_batches)
    ref_seconds = REFERENCE_EPOCHS * len(train_ids) / ref_tps  # training only; its evaluations come on top
    report: dict = {
        "benchmark": "wikitext2_time_to_quality",
        "threads": torch.get_num_threads(),
        "vocab": vocab,
        "train_tokens": len(train_ids),
        "reference": {"model": "pytorch/examples word_language_model, 2x200 tied LSTM, SGD lr 20, full softmax",
                      "tokens_per_s": round(ref_tps), "six_epochs_seconds_extrapolated": round(ref_seconds),
                      "test_ppl_after_six_epochs": f"about {TARGET_PPL:.0f} (published)"},
        "budget_seconds": round(0.8 * ref_seconds),
        "per_model_budget": {"epochs": args.epochs, "train_seconds": args.seconds},
        "runs": [],
    }  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="wikitext2-"))
    params = args.params
    for name in args.models.split(","):
        model = dict(MODELS[name])
        if params is not None and name != "lstm":
            model["params"] = params  # equal size to the LSTM
        started = time.perf_counter()
        result = seqarena.train(recipe(model, args.epochs, args.seconds), root / name, log=print)
        wall = time.perf_counter() - started
        params = params or result.params
        hist = result.history
        report["runs"].append(
            {
                "model": name,
                "params": result.params,
                "d_model": result.config.model.d_model,
                "test_ppl": round(result.results["test"]["ppl"], 2),
                "val_ppl": round(result.results["val"]["ppl"], 2),
                "val_ppl_per_epoch": [round(2.718281828 ** h["val_loss"], 2) for h in hist],
                "epochs": len(hist),
                "train_seconds": round(sum(h["seconds"] for h in hist)),
                "wall_seconds": round(wall),
                "train_tokens_per_s": round(sum(h["samples_per_s"] * h["seconds"] for h in hist) * 70
                                            / sum(h["seconds"] for h in hist)),
                "wall_over_reference": round(wall / ref_seconds, 3),
                "meets_target": result.results["test"]["ppl"] <= TARGET_PPL and wall <= 0.8 * ref_seconds,
            }
        )  # fmt: skip
        print(json.dumps(report["runs"][-1]), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
