"""One arena run, executed in a worker process: train, evaluate, profile; never raises (a failed or diverged
run comes back as a row with its error, so the arena goes on)."""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any

PREDICTION_WINDOWS = 50
GEN_TOKENS = 200


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
        resume = (run_dir / "config.yaml").is_file() and not (run_dir / "results.json").is_file()
        if (run_dir / "results.json").is_file():
            shutil.rmtree(run_dir)  # finished but never recorded: train again, results must come from this row
        result = _train_and_profile(plan["raw"], run_dir, resume)
        result["wall_seconds"] = time.perf_counter() - started
        result["profile"]["rss_idle_mb"] = idle_mb
        result["profile"]["rss_over_idle_mb"] = result["profile"]["peak_rss_mb"] - idle_mb
        return {**row, "status": "ok", "result": result}
    except Exception as exc:  # noqa: BLE001 - recorded, never fatal to the arena
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        from seqarena.errors import SeqarenaError

        detail = "" if isinstance(exc, SeqarenaError) else "\n" + traceback.format_exc(limit=3)
        return {**row, "status": "failed", "error": f"{type(exc).__name__}: {message}{detail}", "result": None}


def _train_and_profile(raw: dict[str, Any], run_dir: Path, resume: bool) -> dict[str, Any]:
    import seqarena

    result = seqarena.train(raw, run_dir, resume=resume, log=lambda _: None)
    loaded = seqarena.load(run_dir)
    history = result.history
    train_seconds = sum(h["seconds"] for h in history)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in history)
    common = {
        "metrics": result.results,
        "params": result.params,
        "resolved_model": {k: v for k, v in vars(loaded.config.model).items()},
        "epochs": len(history),
        "train_seconds": train_seconds,
        "samples_per_s": samples / train_seconds if train_seconds else None,
        "time_to_best": result.training.get("time_to_best"),
        "curve": [{"epoch": h["epoch"], "val_loss": h["val_loss"], "train_loss": h["train_loss"]} for h in history],
    }
    if loaded.config.task.name == "lm":
        return common | _lm_profile(loaded, run_dir, common["samples_per_s"])
    if loaded.config.task.name == "classify":
        return common | {"profile": _classify_profile(loaded, run_dir)}
    if loaded.config.task.name == "seq2seq":
        return common | {"profile": _seq2seq_profile(loaded, run_dir)}
    from seqarena.profile import profile
    from seqarena.tasks.forecast import ForecastTask

    task = ForecastTask(loaded.config)
    return common | {"profile": profile(loaded.model, run_dir), "predictions": _first_predictions(loaded.model, task)}


def _lm_profile(loaded: Any, run_dir: Path, samples_per_s: float | None) -> dict[str, Any]:
    """Generation speed (200 new tokens, batch 1, cache on), repetition and diversity of 4 seeded samples, and the
    share of their word 4-grams copied from the training text."""
    import torch

    from seqarena.data.text import load_corpus
    from seqarena.profile import peak_rss_mb
    from seqarena.tasks.generate import Sampling, generate_text
    from seqarena.tasks.lm_metrics import NgramIndex, generation_metrics

    tok, block = loaded.artifacts["tokenizer_obj"], loaded.artifacts["block_size"]
    _, speed = generate_text(loaded.model, tok, "", Sampling(max_new_tokens=GEN_TOKENS, temperature=0), block)
    texts, _ = generate_text(
        loaded.model, tok, "", Sampling(max_new_tokens=GEN_TOKENS, top_k=40, seed=0), block, num_samples=4
    )
    tc = loaded.config.task
    train_text = load_corpus(tc.data, tc.encoding, tc.split).texts["train"]
    quality = generation_metrics(texts, NgramIndex(train_text, 4))
    return {
        "train_tokens_per_s": samples_per_s * block if samples_per_s else None,
        "samples": [t[:300] for t in texts],
        "profile": {
            "threads": torch.get_num_threads(),
            "gen_tokens_per_s": speed.tokens_per_s,
            "gen_ms_per_token": 1e3 / max(speed.tokens_per_s, 1e-9),
            **quality,
            "size_bytes": (run_dir / "model.safetensors").stat().st_size,
            "peak_rss_mb": peak_rss_mb(),
        },
    }


def _classify_profile(loaded: Any, run_dir: Path) -> dict[str, Any]:
    """Latency of classifying real test sequences at batch 1 and 64, size on disk, peak memory."""
    import torch

    from seqarena.profile import peak_rss_mb, timed
    from seqarena.tasks.classify import ClassifyTask, collate

    xs = ClassifyTask(loaded.config).x["test"]
    model = loaded.model.eval()
    out: dict[str, Any] = {"threads": torch.get_num_threads()}
    for batch in (1, 64):
        x, mask = collate([xs[i % len(xs)] for i in range(batch)])
        with torch.inference_mode():
            lat = timed(lambda x=x, mask=mask: model(x, mask), 30)
        out[f"latency_b{batch}_ms"], out[f"latency_b{batch}_p95_ms"] = lat["median_ms"], lat["p95_ms"]
    out["size_bytes"] = (run_dir / "model.safetensors").stat().st_size
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _seq2seq_profile(loaded: Any, run_dir: Path) -> dict[str, Any]:
    """Milliseconds to translate one test sentence (greedy, batch 1) and 64 at once, size, peak memory."""
    import torch

    from seqarena.profile import peak_rss_mb, timed
    from seqarena.tasks.seq2seq import Seq2SeqTask

    task = Seq2SeqTask.for_run(loaded.config, run_dir)
    srcs = task.ids["test"][0]
    out: dict[str, Any] = {"threads": torch.get_num_threads()}
    for batch in (1, 64):
        take = [srcs[i % len(srcs)] for i in range(batch)]
        lat = timed(lambda take=take, b=batch: task.translate_ids(loaded.model.eval(), take, 1, b), 10, warmup=2)
        out[f"latency_b{batch}_ms"], out[f"latency_b{batch}_p95_ms"] = lat["median_ms"], lat["p95_ms"]
    out["size_bytes"] = (run_dir / "model.safetensors").stat().st_size
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _first_predictions(model: Any, task: Any) -> dict[str, Any]:
    """The target channel over the first test windows: step-1 forecasts, and window 0's whole horizon."""
    import torch

    windows = task.windows["test"]
    count = min(PREDICTION_WINDOWS, len(windows))
    x, y = windows.batch(torch.arange(count))  # (n, L, C), (n, H, C_out)
    with torch.inference_mode():
        pred = model.eval()(x)  # (n, H, C_out)
    c = len(task.out_columns) - 1 if task.target not in task.out_columns else task.out_columns.index(task.target)
    return {
        "channel": task.out_columns[c],
        "step1_pred": pred[:, 0, c].tolist(),
        "step1_true": y[:, 0, c].tolist(),
        "window0_pred": pred[0, :, c].tolist(),
        "window0_true": y[0, :, c].tolist(),
        "window0_context": x[0, :, task.in_columns.index(task.out_columns[c])].tolist(),
    }
