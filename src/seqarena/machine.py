"""What this machine can do, measured once and cached: fp32 GEMM peak, memory bandwidth, and whether reduced
precision is fast. `seqarena doctor` prints it; a training run divides its achieved FLOP/s by the peak (model FLOPs
utilisation, as nanoGPT reports it) and records both in run.json. Cached in ~/.cache/seqarena/machine.json per
CPU, thread count, device and torch version (`SEQARENA_CACHE_DIR` moves it)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _cache() -> Path:
    return Path(os.environ.get("SEQARENA_CACHE_DIR") or Path.home() / ".cache" / "seqarena") / "machine.json"


def _cpu_name() -> str:
    with contextlib.suppress(OSError, StopIteration):
        line = next(li for li in Path("/proc/cpuinfo").read_text().splitlines() if li.startswith("model name"))
        return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()


def _key(device: torch.device) -> str:
    name = _name(device)
    text = f"{name}|{device.type}|{torch.get_num_threads()}|{torch.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _best_seconds(fn: Callable[[], Any], device: torch.device, reps: int = 5) -> float:
    """Fastest of `reps` timed calls after two warm-ups: a peak, not a typical figure."""
    best = float("inf")
    for i in range(reps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            best = min(best, time.perf_counter() - began)
    return best


def _gemm_gflops(dtype: torch.dtype, device: torch.device, n: int) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return 2 * n**3 / _best_seconds(lambda: a @ b, device) / 1e9


def measure(device: torch.device | None = None) -> dict[str, Any]:
    """Measure now (a few seconds): fp32 GEMM GFLOP/s at the current thread count, copy bandwidth in GB/s, and
    bf16/fp16 GEMM speed relative to fp32."""
    device = device or torch.device("cpu")
    n = 4096 if device.type == "cuda" else 1024
    fp32 = max(_gemm_gflops(torch.float32, device, n), _gemm_gflops(torch.float32, device, 2 * n))
    src = torch.empty(64 * 2**20 // 4, device=device)  # 64 MB: far beyond the caches
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() * 4 / _best_seconds(lambda: dst.copy_(src), device) / 1e9  # read + write
    relative = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        try:
            relative[name] = round(_gemm_gflops(dtype, device, 512 if device.type == "cpu" else n) / fp32, 3)
        except RuntimeError:  # not supported on this device
            relative[name] = None
    fast = [name for name, r in relative.items() if r is not None and r > 1.2]
    return {
        "device": str(device),
        "name": _name(device),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "gemm_fp32_gflops": round(fp32, 1),
        "memory_gb_s": round(bandwidth, 1),
        "gemm_speed_vs_fp32": relative,
        "fast_precisions": ["fp32", *fast],
        "torch": torch.__version__,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def facts(device: torch.device | None = None, refresh: bool = False) -> dict[str, Any]:
    """The cached measurement for this machine, device and thread count (measured on first use)."""
    device = device or torch.device("cpu")
    path, key = _cache(), _key(device)
    cached: dict[str, Any] = {}
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
        except (OSError, ValueError):
            cached = {}
    if not refresh and key in cached:
        return cached[key]
    cached[key] = measure(device)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached, indent=2))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: measured again next time
    return cached[key]


def step_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one call of `step` (forward and backward of a training step), counted by torch's FlopCounterMode:
    matmuls, convolutions and attention, the operations a utilisation figure is about."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())
