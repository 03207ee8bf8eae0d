"""What this machine can do, measured once and cached: fp32 GEMM peak, memory bandwidth, and whether reduced
precision is fast. The peak is the faster of torch's default matmul and oneDNN's fp32 matmul (also in the CPU
wheel): on some CPUs (AMD EPYC, where MKL takes a generic path) oneDNN runs twice as fast, and a utilisation
figure against the slower one would hide that. `seqarena doctor` prints it; a training run divides its achieved
FLOP/s by the peak (model FLOPs utilisation, as nanoGPT reports it) and records both in run.json. Cached in
~/.cache/seqarena/machine.json per CPU, thread count, device and torch version (`SEQARENA_CACHE_DIR` moves it)."""

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

from seqarena.version import __version__

_SCHEMA = 2  # bump when measure() records something new: older cache entries are then measured again


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
    text = f"{name}|{device.type}|{torch.get_num_threads()}|{torch.__version__}|{_SCHEMA}"
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


def _onednn_gemm_gflops(n: int) -> float | None:
    """fp32 GEMM through oneDNN (the primitive torch's mkldnn linear uses, strict fp32 math), or None without it."""
    linear = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)  # as kernels/onednn.op()
    if linear is None or not torch.backends.mkldnn.is_available():
        return None
    a, w = torch.randn(n, n), torch.randn(n, n)
    try:
        return 2 * n**3 / _best_seconds(lambda: linear(a, w, None, "none", [], ""), torch.device("cpu")) / 1e9
    except RuntimeError:
        return None


def measure(device: torch.device | None = None) -> dict[str, Any]:
    """Measure now (a few seconds): fp32 GEMM GFLOP/s at the current thread count (torch.mm and, on the CPU,
    oneDNN), copy bandwidth in GB/s, and bf16/fp16 GEMM speed relative to torch.mm's fp32."""
    device = device or torch.device("cpu")
    n = 4096 if device.type == "cuda" else 1024
    torch_mm = max(_gemm_gflops(torch.float32, device, n), _gemm_gflops(torch.float32, device, 2 * n))
    onednn = max(_onednn_gemm_gflops(n) or 0.0, _onednn_gemm_gflops(2 * n) or 0.0) if device.type == "cpu" else 0.0
    fp32 = max(torch_mm, onednn)
    src = torch.empty(64 * 2**20 // 4, device=device)  # 64 MB: far beyond the caches
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() * 4 / _best_seconds(lambda: dst.copy_(src), device) / 1e9  # read + write
    relative = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        try:
            relative[name] = round(_gemm_gflops(dtype, device, 512 if device.type == "cpu" else n) / torch_mm, 3)
        except RuntimeError:  # not supported on this device
            relative[name] = None
    fast = [name for name, r in relative.items() if r is not None and r > 1.2]
    return {
        "device": str(device),
        "name": _name(device),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "gemm_fp32_gflops": round(fp32, 1),  # the peak: the faster of the two below
        "gemm_fp32_torch_mm_gflops": round(torch_mm, 1),
        "gemm_fp32_onednn_gflops": round(onednn, 1) if onednn else None,
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


def _count_cpu_attention() -> None:
    """torch's FlopCounterMode has formulas for its CUDA attention kernels but none for the CPU flash kernel, whose
    FLOPs it counted as 0: give it the same formulas (the full T x T products, also when causal)."""
    from torch.utils.flop_counter import flop_registry, register_flop_formula, sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    forward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    backward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if forward is not None and forward not in flop_registry:

        @register_flop_formula(forward)
        def _forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
            return sdpa_flop_count(query_shape, key_shape, value_shape)

    if backward is not None and backward not in flop_registry:

        @register_flop_formula(backward)
        def _backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
            return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def step_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one call of `step` (forward and backward of a training step), counted by torch's FlopCounterMode:
    matmuls, convolutions and attention, the operations a utilisation figure is about."""
    from torch.utils.flop_counter import FlopCounterMode

    _count_cpu_attention()
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


def environment(
    threads: int, device: torch.device, precision: tuple[str, str], gemm: tuple[str, str]
) -> dict[str, Any]:
    """What run.json records of the software and the machine a run trained on, with the choices made for it."""
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
        "matmul": gemm[0],  # the linear layers' fp32 GEMM: torch (torch.mm) or onednn (training/matmul.py)
        "matmul_reason": gemm[1],
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
