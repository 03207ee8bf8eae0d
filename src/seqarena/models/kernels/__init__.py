"""Recurrent kernels with hand-written backward passes: the same math as torch's cells, far fewer ops per step.

PyTorch runs nn.LSTM through oneDNN on the CPU but nn.GRU as a chain of small autograd ops per step. These
kernels run the time loop without autograd: per step one matmul and one fused elementwise pass in C++ (native.py
builds it once per machine), or, without a compiler, a few out= ops in Python writing into preallocated
time-major buffers. The backward is derived by hand the same way, every weight's gradient one large matmul after
the loop. `benchmarks/recurrent_speed.py` measures them against the fused LSTM."""

from __future__ import annotations

from typing import Any


def describe(model: Any, device: Any) -> list[str]:
    """The time loops a model's layers train with on `device` (each layer with a choice has `describe_kernel`)."""
    return sorted({m.describe_kernel(device) for m in model.modules() if hasattr(m, "describe_kernel")})
