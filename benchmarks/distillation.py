"""Knowledge distillation: a small student trained alone against the same student distilled from a larger teacher
(`train.teacher`), on the same data and seeds. Prints JSON: the teacher's and each student's test metrics, mean and
spread over seeds, and the parameter counts.

    .venv/bin/python benchmarks/distillation.py [--data ETTh1] [--seeds 0,1,2] [--alpha 0.5]
    .venv/bin/python benchmarks/distillation.py --task lm --seeds 0,1 --student '{"name": "gru", "d_model": 96}'
    .venv/bin/python benchmarks/distillation.py --task seq2seq --seeds 0,1

With `--task lm`: Tiny Shakespeare at character level, nanoGPT's CPU recipe (configs/lm-tinyshakespeare.yaml,
2,000 steps) for the teacher (its Transformer) and the students (in blocks of 64), validation loss compared.
With `--task seq2seq`: eng-fra, the recipe of benchmarks/engfra_translation.py (greedy test decoding), a GRU 256
teacher with Bahdanau attention and a GRU 64 student (word-level distillation), test BLEU and chrF compared.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
import yaml

import seqarena
from seeds import over_seeds  # benchmarks/seeds.py

LM_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "lm-tinyshakespeare.yaml"


SEQ2SEQ_TEACHER = {"name": "gru", "d_model": 256, "num_layers": 1, "dropout": 0.1, "attention": "bahdanau"}
SEQ2SEQ_STUDENT = {"name": "gru", "d_model": 64, "num_layers": 1, "dropout": 0.1, "attention": "bahdanau"}


def config(model: dict, seed: int, data: str, extra: dict | None = None) -> dict:
    if data == "eng-fra":
        return {
            "task": {"name": "seq2seq", "data": "eng-fra", "label_smoothing": 0.1},
            "model": model,
            "train": {"max_epochs": 30, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.01, "warmup_steps": 200,
                      "patience": 5, "seed": seed, "progress": False, **(extra or {})},
            "eval": {"batch_size": 256},
        }  # fmt: skip
    if data == "tinyshakespeare":
        base = yaml.safe_load(LM_CONFIG.read_text(encoding="utf-8"))
        return {**base, "task": {**base["task"], "batching": "blocks"}, "model": model,
                "train": {**base["train"], "seed": seed, "progress": False, **(extra or {})}}  # fmt: skip
    return {
        "task": {"name": "forecast", "data": data, "features": "M", "lookback": 96, "horizon": 96},
        "model": model,
        "train": {"max_epochs": 10, "batch_size": 32, "lr": 1e-3, "patience": 3, "seed": seed, "progress": False,
                  **(extra or {})},
    }  # fmt: skip


STUDENT = '{"name": "gru", "d_model": 16}'


def summary(runs: list) -> dict:
    if "bleu" in runs[0].results["test"]:
        return {"params": runs[0].params, **over_seeds(runs, ("bleu", "chrf", "exact_match"))}
    if "ppl" in runs[0].results["test"]:  # Tiny Shakespeare: its test split is the validation split
        return {"params": runs[0].params, **over_seeds(runs, ("loss", "ppl"), "val")}
    return {"params": runs[0].params, **over_seeds(runs, ("mse", "mae"))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=["forecast", "lm", "seq2seq"], default="forecast")
    parser.add_argument("--data", default="ETTh1")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--teacher", default='{"name": "transformer", "d_model": 64, "num_layers": 2}')
    parser.add_argument("--student", default=STUDENT)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    teacher_model, student_model = json.loads(args.teacher), json.loads(args.student)
    if args.task == "lm":
        args.data = "tinyshakespeare"
        teacher_model = yaml.safe_load(LM_CONFIG.read_text(encoding="utf-8"))["model"]
    if args.task == "seq2seq":
        args.data, teacher_model = "eng-fra", SEQ2SEQ_TEACHER
        student_model = student_model if args.student != STUDENT else SEQ2SEQ_STUDENT
    root = Path(tempfile.mkdtemp(prefix="distill-"))
    quiet = {"log": lambda _: None}
    teacher = seqarena.train(config(teacher_model, 0, args.data), root / "teacher", **quiet)
    print(json.dumps({"teacher": summary([teacher])}), flush=True)
    alone = [seqarena.train(config(student_model, s, args.data), root / f"alone-{s}", **quiet) for s in seeds]
    print(json.dumps({"student alone": summary(alone)}), flush=True)
    extra = {"teacher": str(root / "teacher"), "distill_alpha": args.alpha}
    distilled = [seqarena.train(config(student_model, s, args.data, extra), root / f"distilled-{s}", **quiet)
                 for s in seeds]  # fmt: skip
    report = {"benchmark": "distillation", "data": args.data, "alpha": args.alpha, "seeds": seeds,
              "threads": torch.get_num_threads(), "teacher_model": teacher_model, "student_model": student_model,
              "teacher": summary([teacher]), "student_alone": summary(alone),
              "student_distilled": summary(distilled)}  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
