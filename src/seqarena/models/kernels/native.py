"""The C++ kernels (one extension per source file here), each built once per machine on first use with
torch.utils.cpp_extension (about 20 s with g++) and cached under `SEQARENA_KERNEL_DIR` (default
~/.cache/seqarena/kernels). Without a compiler, or when a build fails, `load()` returns None and the models run
their Python kernels; `status()` says which and why. SEQARENA_NATIVE_KERNELS=0 turns them off."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import time
from pathlib import Path
from types import ModuleType

import torch

from seqarena import logs
from seqarena.models.base import tracing

# compile flags only: the link never sees -ffast-math, so loading the library sets no flush-to-zero for the process.
# -fopenmp: at::parallel_for is an inline OpenMP loop in ATen's headers, serial in code compiled without it; the
# link then names libgomp.so.1, the OpenMP runtime torch has already loaded (one runtime, one thread pool).
_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp"]
_LINK = ["-fopenmp"]
_HERE = Path(__file__).parent
KERNELS = ("gru", "lstm_cells", "selective_scan", "causal_conv", "attention")  # one per .cpp here
_loaded: dict[str, tuple[ModuleType | None, str]] = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("SEQARENA_KERNEL_DIR") or Path.home() / ".cache" / "seqarena" / "kernels")


def _name(kernel: str) -> str:
    """One build per source, flags, torch and CPU: `-march=native` code must never run on another CPU model."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu += next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    digest = hashlib.sha256((_HERE / f"{kernel}.cpp").read_bytes())
    for header in sorted(_HERE.glob("*.h")):  # the shared headers (step_matmul.h) are part of every build
        digest.update(header.read_bytes())
    digest.update(" ".join([*_FLAGS, *_LINK, torch.__version__, cpu]).encode())
    return f"seqarena_{kernel}_{digest.hexdigest()[:12]}"


STALE_LOCK_S = 600  # a build takes under a minute: a lock this old belongs to a build that was killed


def _clear_stale_lock(lock: Path) -> None:
    """torch's build lock stays behind when a build is killed (Ctrl-C, a timeout), and the next build would wait
    for it forever: remove it once it is far older than any build."""
    with contextlib.suppress(OSError):
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            lock.unlink()
            logs.info(f"removed {lock}, left by a build that did not finish")


def _build(kernel: str) -> tuple[ModuleType | None, str]:
    if os.environ.get("SEQARENA_NATIVE_KERNELS", "1") == "0":
        return None, "disabled by SEQARENA_NATIVE_KERNELS=0"
    try:
        from torch.utils.cpp_extension import load as build

        with contextlib.suppress(ImportError):  # the ninja wheel's binary, also when the venv is not activated
            import ninja

            if ninja.BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
                os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")

        name = _name(kernel)
        where = _cache_dir() / name
        where.mkdir(parents=True, exist_ok=True)
        _clear_stale_lock(where / "lock")
        if not any(where.glob("*.so")):
            logs.info(f"building seqarena's C++ {kernel} kernel once for this machine (about 20 s) in {where}")
        module = build(
            name, [str(_HERE / f"{kernel}.cpp")], extra_cflags=_FLAGS, extra_ldflags=_LINK, build_directory=str(where)
        )
        return module, f"built in {where}"
    except Exception as exc:  # no compiler, no ninja, a read-only cache: the Python kernels still work
        lines = str(exc).strip().splitlines() or [""]
        return None, f"not built ({type(exc).__name__}: {lines[-1][:160]})"


def load(kernel: str = "gru") -> ModuleType | None:
    """The compiled kernel `kernel` (gru, lstm_cells), or None (no compiler, a failed build, or turned off)."""
    if kernel not in _loaded:
        _loaded[kernel] = _build(kernel)
    return _loaded[kernel][0]


def status(kernel: str = "gru") -> str:
    load(kernel)
    return _loaded[kernel][1]


def usable(kernel: str, x: torch.Tensor) -> bool:
    """The compiled `kernel` applies to `x`: float32 on the CPU, not inside an ONNX export, and built."""
    cpu32 = x.device.type == "cpu" and x.dtype == torch.float32
    return cpu32 and not tracing() and load(kernel) is not None


ONEDNN_WIDTH = 128  # from this hidden width the per-step matmul is large enough for oneDNN to pay off


def onednn_matmuls() -> bool:
    """Whether the recurrent kernels take their matmuls through oneDNN: where the machine measured oneDNN's fp32
    GEMM at least 1.2x faster than torch.mm (seqarena doctor; e.g. AMD EPYC, where MKL is generic).
    SEQARENA_ONEDNN_STEPS=0 keeps torch.mm for all of them."""
    if os.environ.get("SEQARENA_ONEDNN_STEPS", "1") == "0":
        return False
    from seqarena.models.kernels import onednn

    return onednn.faster_here()


def onednn_steps(width: int) -> bool:
    """The per-step matmuls too: from a hidden width of 128 (below it oneDNN's per-call cost loses)."""
    return width >= ONEDNN_WIDTH and onednn_matmuls()


def describe(kernel: str, compiled: str, fallback: str) -> str:
    """What run.json says of a layer on the CPU: `compiled` when the kernel is built, else `fallback` and why."""
    return compiled if load(kernel) is not None else f"{fallback} (C++ kernel {status(kernel)})"


@contextlib.contextmanager
def disabled(kernel: str):
    """Run the Python kernels for a while (benchmarks and tests compare the two)."""
    saved = _loaded.get(kernel)
    _loaded[kernel] = (None, "disabled")
    try:
        yield
    finally:
        if saved is None:
            _loaded.pop(kernel, None)
        else:
            _loaded[kernel] = saved
