"""Language-model speed, printed as JSON.

1. Generation of 200 new tokens at batch 1 and 8: a causal Transformer with its KV cache vs recomputing the whole
   context every step, and an LSTM stepping its hidden state (weights at random: speed does not depend on them).
2. Training tokens/s of seqarena (LM task, Tiny Shakespeare, character level) vs a minimal hand-written PyTorch
   loop over the same batches with the same model, optimizer and clipping, alternating rounds in one process.

    SEQARENA_DATA_DIR=../shared/data .venv/bin/python benchmarks/lm_speed.py [--rounds 3] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import seqarena
from seqarena.config import build
from seqarena.models.base import detach_state
from seqarena.tasks.generate import Sampling, generate
from seqarena.tasks.lm import LMTask

BLOCK = 256
TRAIN = {"batch_size": 16, "lr": 1e-3, "patience": None, "progress": False, "max_epochs": 1}


def lm_config(model: dict, steps: int, batching: str = "auto") -> dict:
    return {
        "task": {"name": "lm", "data": "tinyshakespeare", "block_size": BLOCK, "batching": batching},
        "model": model,
        "train": {**TRAIN, "max_steps": steps},
    }


MODELS = {
    "transformer": {"name": "transformer", "d_model": 256, "num_layers": 4, "num_heads": 4},
    "lstm": {"name": "lstm", "d_model": 256, "num_layers": 2},
}


def generation(task: LMTask, name: str, batch: int, cache: bool, new: int = 200) -> dict:
    torch.manual_seed(0)
    model = task.build_model(task.cfg).eval()
    prompt = task.ids["val"][:16].repeat(batch, 1)  # (B, 16)
    s = Sampling(max_new_tokens=new, temperature=0, use_cache=cache)
    generate(model, prompt, Sampling(max_new_tokens=8, temperature=0, use_cache=cache), BLOCK)  # warm-up
    runs = [generate(model, prompt, s, BLOCK) for _ in range(3)]
    best = min(r.seconds for r in runs)
    return {"model": name, "batch": batch, "cache": cache, "new_tokens": new, "seconds": round(best, 4),
            "tokens_per_s": round(new * batch / best, 1)}  # fmt: skip


def reference_tokens_per_s(task: LMTask, steps: int) -> float:
    """A bare loop: the same model class, batches, AdamW (fused) and clipping; no seqarena loop around it."""
    torch.manual_seed(0)
    model = task.build_model(task.cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(0)
    state, tokens = None, 0
    started = time.perf_counter()
    for i, (x, y) in enumerate(task.train_batches(TRAIN["batch_size"], gen)):
        if i == steps:
            break
        if task.stream:
            state = model.init_state(len(x)) if state is None else state
            loss, state = model(x, y, state)
            state = detach_state(state)
        else:
            loss, _ = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += x.numel()
    return tokens / (time.perf_counter() - started)


def seqarena_tokens_per_s(model: dict, steps: int, root: Path, i: int) -> float:
    result = seqarena.train(lm_config(model, steps), root / f"{model['name']}{i}", log=lambda _: None)
    h = result.history[0]
    return h["samples_per_s"] * BLOCK  # windows/s over the training steps (validation excluded) x tokens/window


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict = {"benchmark": "lm_speed", "threads": torch.get_num_threads(), "torch": torch.__version__}
    tasks = {name: LMTask(build(lm_config(m, args.steps))) for name, m in MODELS.items()}
    report["params"] = {n: sum(p.numel() for p in t.build_model(t.cfg).parameters()) for n, t in tasks.items()}
    gen = [generation(tasks["transformer"], "transformer", b, c) for b in (1, 8) for c in (True, False)]
    gen += [generation(tasks["lstm"], "lstm", b, True) for b in (1, 8)]
    report["generation"] = gen
    speed = {(g["model"], g["batch"], g["cache"]): g["tokens_per_s"] for g in gen}
    report["kv_cache_speedup"] = {f"batch{b}": round(speed["transformer", b, True] / speed["transformer", b, False], 2)
                                  for b in (1, 8)}  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="lm-speed-"))
    training = {}
    for name, model in MODELS.items():
        ours, ref = [], []
        reference_tokens_per_s(tasks[name], 10)  # warm-up
        for i in range(args.rounds):
            ref.append(reference_tokens_per_s(tasks[name], args.steps))
            ours.append(seqarena_tokens_per_s(model, args.steps, root, i))
        ratio = statistics.median(ours) / statistics.median(ref)
        training[name] = {
            "batching": tasks[name].cfg.task.batching,
            "reference_tokens_per_s": [round(r) for r in ref],
            "seqarena_tokens_per_s": [round(o) for o in ours],
            "ratio_seqarena_over_reference": round(ratio, 4),
            "overhead_percent": round(100 * (1 - ratio), 2),
        }
    report["training"] = training
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
