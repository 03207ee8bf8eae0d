"""Runs: `train(config, out)` makes a run directory; `load(run_dir)` rebuilds its model without unpickling.

A run directory holds config.yaml (resolved), run.json (seed, versions, threads, hardware, data checksum),
model.safetensors, task.json (scaler, columns), metrics.jsonl (one line per epoch), results.json (per split),
and checkpoint/ for --resume. Every input is validated before the directory is created.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from seqarena import __version__
from seqarena.config import RunConfig, build, dump_yaml, load_yaml, to_dict
from seqarena.errors import SeqarenaError
from seqarena.models.base import count_params
from seqarena.registry import get_task
from seqarena.training.checkpoint import write_json
from seqarena.training.loop import fit, has_validation
from seqarena.training.precision import resolve_device, resolve_precision


@dataclass
class RunResult:
    run_dir: Path
    config: RunConfig
    results: dict[str, dict[str, float]]
    history: list[dict[str, Any]] = field(default_factory=list)
    params: int = 0
    training: dict[str, Any] = field(default_factory=dict)  # train_seconds, time_to_best, best_epoch, step


def resolve(config: RunConfig | dict | str | Path, overrides: list[str] | None = None) -> RunConfig:
    from seqarena.config import set_dotted

    if isinstance(config, RunConfig):
        raw = to_dict(config)
    elif isinstance(config, dict):
        raw = json.loads(json.dumps(config))
    else:
        raw = load_yaml(config)
    for assignment in overrides or []:
        set_dotted(raw, assignment)
    return build(raw)


def environment(threads: int, device: torch.device, precision: tuple[str, str]) -> dict[str, Any]:
    import numpy

    return {
        "seqarena": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "threads": threads,
        "device": str(device),
        "cuda": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "precision": precision[0],
        "precision_reason": precision[1],
    }


def _prepare_dir(out: Path, cfg: RunConfig, resume: bool) -> bool:
    """Create the run dir, or check a resumed one matches; True if it was created now."""
    saved = out / "config.yaml"
    if resume and saved.is_file():
        old = to_dict(build(load_yaml(saved)))
        new = to_dict(cfg)
        old["train"]["progress"] = new["train"]["progress"]
        diff = [f"{s}.{k}" for s in new for k in new[s] if old[s].get(k) != new[s][k]]
        if diff:
            raise SeqarenaError(
                f"--resume: {out} was started with other settings ({', '.join(diff[:5])}); "
                f"use the same command or a new --out"
            )
        if (out / "results.json").is_file():
            raise SeqarenaError(f"{out} already finished; its results are in {out / 'results.json'}")
        return False
    if out.exists() and any(out.iterdir()):
        if resume:
            raise SeqarenaError(f"--resume: {out} holds no run config.yaml to resume; choose another --out")
        raise SeqarenaError(f"{out} already exists; pass --resume to continue that run or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return True


def train(
    config: RunConfig | dict | str | Path,
    out: str | Path,
    *,
    overrides: list[str] | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Train one model on one task; validate everything first, then write the run directory."""
    cfg = resolve(config, overrides)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    task = get_task(cfg.task.name)(cfg)  # loads and checks the data; resolves dataset defaults into cfg
    for note in getattr(task, "notes", []):
        log(note)
    torch.manual_seed(cfg.train.seed)
    model = task.build_model().to(device)
    model.grad_checkpointing = cfg.train.grad_checkpointing
    out = Path(out)
    created = _prepare_dir(out, cfg, resume)
    try:
        dump_yaml(cfg, out / "config.yaml")
        env = environment(torch.get_num_threads(), device, precision)
        info = {
            "seed": cfg.train.seed,
            "params": count_params(model),
            "data": {"name": cfg.task.data, "sha256": task.data_sha256, "values_sha256": task.values_checksum()},
            "environment": env,
        }
        write_json(out / "run.json", info)
        log(
            f"{cfg.model.name} on {cfg.task.data}: {info['params']:,} parameters, {task.n_train():,} training "
            f"windows, {env['threads']} threads, {precision[0]} ({precision[1]})"
        )
        short = _short_training(task.n_train(), cfg.train)
        if short:
            log(short)
        state: dict[str, Any] = {"history": []}
        net = getattr(model, "net", None)  # encoder-decoders have no single backbone; they always train
        if (net is None or net.capabilities().trainable) and count_params(model) > 0:
            state = fit(task, model, cfg.train, out, device, precision[0], cfg.eval.batch_size, log)
        save_model(model, str(out / "model.safetensors"))
        task.write_artifacts(out)
        splits = ("val", "test") if has_validation(task) else ("test",)
        results = {s: task.evaluate(model, s, cfg.eval.batch_size, device) for s in splits}
        timing = {k: state.get(k) for k in ("train_seconds", "time_to_best", "best_epoch", "step")}
        write_json(out / "results.json", {**results, "training": timing, "params": info["params"]})
    except BaseException:
        if created and not (out / "checkpoint" / "latest.json").exists():
            shutil.rmtree(out, ignore_errors=True)  # nothing worth resuming: leave no half-written run behind
        raise
    return RunResult(out, cfg, results, state["history"], info["params"], timing)


def _short_training(n_train: int, tc: Any) -> str | None:
    """A note when a small training set gets so few optimizer steps that the model cannot have learned much (the
    defaults suit thousands of windows; 40 UCR cases make 2 batches an epoch)."""
    steps_per_epoch = math.ceil(n_train / tc.batch_size)
    total = min(tc.max_steps or 1 << 62, steps_per_epoch * tc.max_epochs)
    if total >= 100 or tc.max_seconds is not None:
        return None
    hint = "raise train.max_epochs (e.g. --set train.max_epochs=300"
    hint += ", and --set train.patience=null or a larger patience)" if tc.patience is not None else ")"
    return (
        f"note: only {total} optimizer steps in total ({n_train} training cases, batch {tc.batch_size}, "
        f"{tc.max_epochs} epochs); {hint} or lower train.batch_size"
    )


@dataclass
class LoadedRun:
    run_dir: Path
    config: RunConfig
    model: Any  # ForecastModel or LMModel
    artifacts: dict[str, Any]


def load(run_dir: str | Path) -> LoadedRun:
    """Rebuild a finished run's model from config.yaml + task.json + model.safetensors (no pickle)."""
    run_dir = Path(run_dir)
    for name in ("config.yaml", "task.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise SeqarenaError(
                f"{run_dir} is not a finished run (no {name}); train it first or finish it with --resume"
            )
    cfg = build(load_yaml(run_dir / "config.yaml"))
    model, art = get_task(cfg.task.name).load_model(cfg, run_dir)
    load_model(model, str(run_dir / "model.safetensors"))
    model.eval()
    return LoadedRun(run_dir, cfg, model, art)


def evaluate(run_dir: str | Path, split: str = "test") -> dict[str, float]:
    run = load(run_dir)
    task = get_task(run.config.task.name).for_run(run.config, run.run_dir)
    started = time.perf_counter()
    metrics = task.evaluate(run.model, split, run.config.eval.batch_size, torch.device("cpu"))
    return {**metrics, "seconds": round(time.perf_counter() - started, 3)}


def generate(
    run_dir: str | Path,
    prompt: str = "",
    *,
    num_samples: int = 1,
    stop: list[str] | None = None,
    on_text: Callable[[str], None] | None = None,
    **sampling: Any,
) -> dict[str, Any]:
    """Sample text from a finished language-model run: the samples, speed (tokens/s, words/s, threads) and
    repetition/diversity metrics. `sampling` takes the fields of seqarena.tasks.generate.Sampling."""
    from seqarena.tasks.generate import Sampling, generate_text
    from seqarena.tasks.lm_metrics import generation_metrics

    run = load(run_dir)
    if run.config.task.name != "lm":
        raise SeqarenaError(f"{run_dir} is a {run.config.task.name} run; generate needs a language model (--task lm)")
    if num_samples < 1:
        raise SeqarenaError("--num-samples must be >= 1")
    texts, gen = generate_text(
        run.model,
        run.artifacts["tokenizer_obj"],
        prompt,
        Sampling(**sampling),
        run.artifacts["block_size"],
        num_samples,
        stop,
        on_text,
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


def translate(
    run_dir: str | Path, texts: list[str], *, beam: int | None = None, plot: str | Path | None = None
) -> dict[str, Any]:
    """Translate sentences with a finished seq2seq run: outputs, speed, and (greedy) an attention heatmap of the
    first sentence written to `plot` (SVG)."""
    from seqarena.tasks.seq2seq import translate as run_translate

    run = load(run_dir)
    if run.config.task.name != "seq2seq":
        raise SeqarenaError(f"{run_dir} is a {run.config.task.name} run; translate needs a seq2seq run")
    if not texts:
        raise SeqarenaError("nothing to translate: give a sentence or lines on stdin")
    beam = run.config.task.beam if beam is None else beam
    if beam < 1:
        raise SeqarenaError("--beam must be >= 1 (1 = greedy)")
    if plot is not None and beam != 1:
        raise SeqarenaError("--plot shows greedy decoding's attention; use it with --beam 1")
    started = time.perf_counter()
    outputs, attention = run_translate(run.model, run.artifacts, texts, beam, run.config.task.length_penalty)
    seconds = time.perf_counter() - started
    if plot is not None:
        if attention[0]["weights"] is None:
            raise SeqarenaError(f"{run_dir}: the model has no attention to plot (task.attention=none)")
        from seqarena.report.plots import attention_heatmap

        target = Path(plot)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(attention_heatmap(attention[0]), encoding="utf-8")
        tmp.replace(target)
    return {
        "outputs": outputs,
        "seconds": round(seconds, 4),
        "sentences_per_s": round(len(texts) / max(seconds, 1e-9), 2),
        "threads": torch.get_num_threads(),
        "decoding": "greedy" if beam == 1 else f"beam {beam}",
    }
