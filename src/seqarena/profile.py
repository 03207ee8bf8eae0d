"""Measuring a model: the one latency loop (one thread, a warm-up, then the median and p95 of repeated calls), the
process's peak resident memory, and the activation memory a training step keeps for backward. Each task's profile
(tasks/*) uses these for its own figures; the claims and the advisor use them too."""

from __future__ import annotations

import contextlib
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

LATENCY_THREADS = 1  # every latency is measured on one thread: as fast at batch 1 here, and steadier


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed(
    fn: Callable[[], Any],
    reps: int,
    warmup: int = 3,
    budget_s: float = 10.0,
    warmup_s: float = 0.2,
    sample_s: float = 0.1,
) -> dict[str, float]:
    """Median and p95 milliseconds of `fn` over at least `reps` calls and `sample_s` seconds on LATENCY_THREADS
    threads, after a warm-up of at least `warmup` calls and `warmup_s` seconds (first calls build kernels and fill
    the allocator). The sampling time keeps a fast call's median steady: 30 calls of 0.07 ms span 2 ms, which one
    burst of another process can fill (two arena runs once measured one linear model 21% apart). A slow `fn` (a
    statistical model fitting 64 windows) stops early: warm-up after a quarter of `budget_s`, sampling after
    `budget_s` (one call at least), so profiling never costs more than a few calls."""
    with threads(LATENCY_THREADS):
        began = time.perf_counter()
        calls = 0
        while calls < warmup or time.perf_counter() - began < warmup_s:
            fn()
            calls += 1
            if time.perf_counter() - began > budget_s / 4:
                break
        samples: list[float] = []
        began = time.perf_counter()
        while len(samples) < reps or time.perf_counter() - began < sample_s:
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1e3)
            if time.perf_counter() - began > budget_s:
                break
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    return {"median_ms": statistics.median(samples), "p95_ms": p95, "threads": LATENCY_THREADS}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def saved_bytes(fn: Callable[[], torch.Tensor], params: Any = ()) -> int:
    """Bytes of the tensors autograd keeps from the forward pass `fn` for backward, the weights among `params`
    left out: a training step's activation memory, measured the same way on any device."""
    total = 0
    seen: set[int] = {p.untyped_storage().data_ptr() for p in params}

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:  # a tensor saved by several ops is stored once
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return total


def training_step_mb(model: torch.nn.Module, x: torch.Tensor, batch_factor: int = 1) -> float:
    """MB a training step on input `x` holds: weights, gradients and AdamW's two moments (4x the weights) plus the
    activations kept for backward, times `batch_factor` (activations grow with the batch: measure one case, scale)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    saved = saved_bytes(lambda: model.train()(x)[0], model.parameters())
    return (4 * weights + batch_factor * saved) / 2**20


def batch_latencies(model: Any, examples: list[Any], batch_inputs: Callable[[list[Any]], tuple], reps: int = 30,
                    batches: tuple[int, ...] = (1, 64)) -> dict[str, float]:  # fmt: skip
    """latency_b{n}_ms and latency_b{n}_p95_ms of `model` on batches of n real examples (repeated to fill a
    batch), each batch built by `batch_inputs(examples) -> model's positional inputs`, in eval mode."""
    import torch

    model.eval()
    out: dict[str, float] = {}
    for n in batches:
        inputs = batch_inputs([examples[i % len(examples)] for i in range(n)])
        with torch.inference_mode():
            lat = timed(lambda inputs=inputs: model(*inputs), reps)
        out[f"latency_b{n}_ms"], out[f"latency_b{n}_p95_ms"] = lat["median_ms"], lat["p95_ms"]
    return out
