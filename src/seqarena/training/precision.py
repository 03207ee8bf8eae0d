"""Reduced precision only where the hardware runs it natively. On a CPU without avx512_bf16/AMX a bf16 matmul
measured ~100x slower than fp32 here, so such CPUs train in fp32 whatever was asked, and the reason is logged."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            from seqarena.errors import ConfigError

            raise ConfigError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_precision(requested: str, device: torch.device) -> tuple[str, str]:
    """(precision actually used, why)."""
    if device.type == "cuda":
        if requested == "auto":
            return ("bf16", "auto: CUDA with bf16") if torch.cuda.is_bf16_supported() else ("fp32", "auto: no bf16")
        return requested, "as requested on CUDA"
    native = cpu_has_native_bf16()
    if requested == "auto":
        return "fp32", "auto: fp32 on CPU" + ("" if native else " (no avx512_bf16/amx)")
    if requested == "fp32":
        return "fp32", "as requested"
    if requested == "bf16" and native:
        return "bf16", "as requested: this CPU has native bf16"
    return "fp32", f"{requested} requested but this CPU does not run it natively (~100x slower): fp32 used"


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
