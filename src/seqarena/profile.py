"""Cost measurements of a trained model: inference latency (batch 1 and 64, median and p95), streaming latency
per new time step for stateful backbones, size on disk, and the process's peak resident memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seqarena.tasks.forecast import ForecastModel


def timed(fn: Callable[[], Any], reps: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e3)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[min(len(samples) - 1, int(0.95 * len(samples)))]}


@torch.inference_mode()
def latency(model: ForecastModel, batch: int, reps: int = 30) -> dict[str, float]:
    x = torch.randn(batch, model.spec.lookback, model.spec.channels)  # (B, L, C)
    model.eval()
    return timed(lambda: model(x), reps)


@torch.inference_mode()
def streaming_latency(model: ForecastModel, reps: int = 100) -> dict[str, float] | None:
    """Milliseconds to fold one new observation into a stateful backbone's state (batch 1); None if stateless."""
    net = model.net
    if model.is_forecaster or not net.capabilities().stateful:
        return None
    model.eval()
    state = net.init_state(1)
    warm = model.embed(torch.randn(1, model.spec.lookback, model.spec.channels))  # (1, L, D)
    _, state = net(warm, state)
    step = torch.randn(1, 1, model.spec.channels)  # (1, 1, C)
    holder = {"state": state}

    def one_step() -> None:
        _, holder["state"] = net(model.embed(step), holder["state"])

    return timed(one_step, reps)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def profile(model: ForecastModel, run_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"threads": torch.get_num_threads()}
    for batch in (1, 64):
        lat = latency(model, batch)
        result[f"latency_b{batch}_ms"] = lat["median_ms"]
        result[f"latency_b{batch}_p95_ms"] = lat["p95_ms"]
    stream = streaming_latency(model)
    result["stream_step_ms"] = None if stream is None else stream["median_ms"]
    result["stream_step_p95_ms"] = None if stream is None else stream["p95_ms"]
    result["size_bytes"] = (run_dir / "model.safetensors").stat().st_size
    result["peak_rss_mb"] = peak_rss_mb()
    if torch.cuda.is_available():  # training ran there (train.device=auto); latency above is measured on the CPU
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result
