"""The oneDNN fp32 linear op (torch.ops.mkldnn._linear_pointwise, inside the CPU wheel: strict fp32 math) as an
autograd function, and whether this machine multiplies faster with it than with torch.mm (MKL in the wheel, which
takes a generic path on AMD CPUs). training/matmul.py routes nn.Linear layers through it; the recurrent kernels
take their per-step matmuls through it (step_matmul.h)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from seqarena.models.base import tracing

FASTER = 1.2  # auto switches when oneDNN's measured fp32 GEMM is at least this much faster than torch.mm


def op() -> Any:
    return getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


def count_flops() -> None:
    """Teach torch's FlopCounterMode the oneDNN op, so that run.json's FLOPs and utilisation stay right."""
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    linear = op()
    if linear is not None and linear not in flop_registry:

        @register_flop_formula(linear)
        def _flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
            return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * w_shape[0]  # (..., K) @ (N, K)^T


def _mm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, K) @ w.T for w (N, K): (M, N) through oneDNN."""
    return op()(x, w, None, "none", [], "")


def _weight_grad(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """g^T @ x for g (M, N), x (M, K): a reduction over the long M. oneDNN is fast at it when the wider of N and K
    is its output channels (measured at M 8192: 11-16 ms against MKL's 18-26; the other way round 44 ms)."""
    if g.shape[1] >= x.shape[1]:
        return _mm(x.t(), g.t()).t().contiguous()  # (K, N) = x^T g, with N output channels
    return _mm(g.t(), x.t())  # (N, K), with K output channels


class OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        # x: (..., K); weight: (N, K); bias: (N,) or None
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return op()(x, weight, bias, "none", [], "")  # (..., N)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])  # (M, N)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _mm(g, weight.t().contiguous()).view(x.shape)  # (M, K) = g @ W
        if ctx.needs_input_grad[1]:
            dw = _weight_grad(g, x.reshape(-1, x.shape[-1]))  # (N, K) = g^T @ x
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = g.sum(0)
        return dx, dw, db


def usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """oneDNN applies: float32 on the CPU, at least 2-D, outside autocast and ONNX export, and the op exists."""
    cpu32 = x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
    return cpu32 and x.dim() >= 2 and x.numel() > 0 and not torch.is_autocast_enabled("cpu") and not tracing()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """F.linear through oneDNN where `usable`, else F.linear itself."""
    return OneDNNLinear.apply(x, weight, bias) if usable(x, weight) else F.linear(x, weight, bias)


_faster: list[bool] = []


def faster_here() -> bool:
    """This machine measured oneDNN's fp32 GEMM at least FASTER x torch.mm's (seqarena doctor; cached)."""
    if not _faster:
        from seqarena import machine

        facts = machine.facts(torch.device("cpu"))
        onednn = facts.get("gemm_fp32_onednn_gflops") or 0.0
        _faster.append(op() is not None and onednn >= FASTER * facts["gemm_fp32_torch_mm_gflops"])
    return _faster[0]


count_flops()  # run.json's FLOPs count this op wherever it runs (linear layers, recurrent kernels)
