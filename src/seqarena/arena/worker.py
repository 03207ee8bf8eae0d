"""One arena run, executed in a worker process: train the resolved config, then profile the trained model with the
task it trained with; never raises (a failed or diverged run comes back as a row with its error, so the arena
goes on)."""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any


def execute(plan: dict[str, Any], arena_dir: str, threads: int) -> dict[str, Any]:
    import torch

    import seqarena.run  # noqa: F401 - loaded before the idle-memory reading
    from seqarena.profile import peak_rss_mb

    torch.set_num_threads(threads)
    idle_mb = peak_rss_mb()
    run_dir = Path(arena_dir) / "runs" / plan["key"]
    row = {
        "key": plan["key"],
        "label": plan["label"],
        "model": plan["raw"]["model"]["name"],
        "seed": plan["seed"],
        "config": plan["raw"],
    }
    started = time.perf_counter()
    try:
        from seqarena.registry import load_plugins

        load_plugins(plan.get("plugins") or [])  # a user's own models and tasks, as the parent process had them
        resume = (run_dir / "config.yaml").is_file() and not (run_dir / "results.json").is_file()
        if (run_dir / "results.json").is_file():
            shutil.rmtree(run_dir)  # finished but never recorded: train again, results must come from this row
        result = _train_and_profile(plan["resolved"] or plan["raw"], run_dir, resume)
        result["params_target"] = plan["raw"]["model"].get("params")
        result["tuning"] = plan.get("tuning")  # a tuned arena: the study's choice for this entrant
        result["wall_seconds"] = time.perf_counter() - started
        result["profile"]["rss_idle_mb"] = idle_mb
        result["profile"]["rss_over_idle_mb"] = result["profile"]["peak_rss_mb"] - idle_mb
        if plan.get("export"):
            from seqarena.deploy.quantize import deploy_profile

            result["profile"].update(deploy_profile(run_dir))
        if plan.get("lengths"):
            from seqarena.run import lengths_of, load

            result["lengths"] = {str(n): m for n, m in lengths_of(load(run_dir), plan["lengths"]).items()}
        if plan.get("backtest"):
            from seqarena.run import backtest

            result["backtest"] = backtest(run_dir, **plan["backtest"], log=lambda _: None)
        return {**row, "status": "ok", "result": result}
    except Exception as exc:  # noqa: BLE001 - recorded, never fatal to the arena
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        from seqarena.errors import SeqarenaError

        detail = "" if isinstance(exc, SeqarenaError) else "\n" + traceback.format_exc(limit=3)
        return {**row, "status": "failed", "error": f"{type(exc).__name__}: {message}{detail}", "result": None}


def _train_and_profile(config: dict[str, Any], run_dir: Path, resume: bool) -> dict[str, Any]:
    from seqarena.run import train

    result = train(config, run_dir, resume=resume, log=lambda _: None)
    history = result.history
    train_seconds = sum(h["seconds"] for h in history)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in history)
    training = {
        "train_seconds": train_seconds,
        "samples_per_s": samples / train_seconds if train_seconds else None,
        "time_to_best": result.training.get("time_to_best"),
    }
    profile = result.task.profile(result.model, run_dir, training)
    return {
        "metrics": result.results,
        "warnings": result.warnings,  # far worse than the task's trivial baseline (seqarena/quality.py)
        "params": result.params,
        "resolved_model": dict(vars(result.config.model)),
        "task_settings": dict(vars(result.config.task)),  # as resolved (lookback, horizon, ...), for the report
        "epochs": len(history),
        **training,
        "curve": [{"epoch": h["epoch"], "val_loss": h.get("val_loss"), "train_loss": h["train_loss"]} for h in history],
        "extras": profile.pop("extras", {}),  # the task's data for its report sections (predictions, samples)
        "profile": profile,
    }
