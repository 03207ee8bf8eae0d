"""fp32 linear layers through oneDNN while training on the CPU, where it multiplies faster than torch's default
matmul. The CPU wheel's `torch.mm` is MKL, which takes a generic path on AMD CPUs: on an AMD EPYC VM oneDNN's
strict-fp32 GEMM (`torch.ops.mkldnn._linear_pointwise`, in the same wheel) ran 2.2x faster (`seqarena doctor`
measures both). `train.matmul=auto` switches when the measured ratio says so; run.json records the choice. The
weights stay ordinary nn.Linear parameters (checkpoints, export and inference are unchanged); under autocast, for
other dtypes or devices and inside an ONNX export a layer takes F.linear as before."""

from __future__ import annotations

import math
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from seqarena.errors import ConfigError
from seqarena.models.base import tracing

FASTER = 1.2  # auto switches when oneDNN's measured fp32 GEMM is at least this much faster than torch.mm


def _op() -> Any:
    return getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


def _count_flops() -> None:
    """Teach torch's FlopCounterMode the oneDNN op, so that run.json's FLOPs and utilisation stay right."""
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    op = _op()
    if op is not None and op not in flop_registry:

        @register_flop_formula(op)
        def _flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
            return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * w_shape[0]  # (..., K) @ (N, K)^T


def _mm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x (M, K) @ w.T for w (N, K): (M, N) through oneDNN."""
    return _op()(x, w, None, "none", [], "")


class OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        # x: (..., K); weight: (N, K); bias: (N,) or None
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _op()(x, weight, bias, "none", [], "")  # (..., N)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.shape[-1])  # (M, N)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _mm(g, weight.t().contiguous()).view(x.shape)  # (M, K) = g @ W
        if ctx.needs_input_grad[1]:
            dw = g.t() @ x.reshape(-1, x.shape[-1])  # (N, K): torch.mm, faster than oneDNN for this long reduction
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = g.sum(0)
        return dx, dw, db


def usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """oneDNN applies: float32 on the CPU, at least 2-D, outside autocast and ONNX export, and the op exists."""
    cpu32 = x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
    return cpu32 and x.dim() >= 2 and x.numel() > 0 and not torch.is_autocast_enabled("cpu") and not tracing()


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if usable(x, self.weight):
        return OneDNNLinear.apply(x, self.weight, self.bias)
    return F.linear(x, self.weight, self.bias)


def install(model: nn.Module, choice: str = "onednn") -> int:
    """Route every nn.Linear of `model` through oneDNN (per call, where `usable`) when `choice` is "onednn";
    returns how many layers."""
    layers = [m for m in model.modules() if type(m) is nn.Linear] if choice == "onednn" else []
    if layers:
        _count_flops()
    for layer in layers:
        layer.forward = types.MethodType(_forward, layer)
    return len(layers)


def choose(requested: str, device: torch.device, precision: str, deterministic: bool = False) -> tuple[str, str]:
    """(the matmul a run trains its linear layers with, why): "onednn" or "torch"."""
    if requested == "torch":
        return "torch", "as requested"
    if device.type != "cpu" or precision != "fp32" or _op() is None or not torch.backends.mkldnn.is_available():
        if requested == "onednn":
            raise ConfigError("train.matmul=onednn needs fp32 training on the CPU with oneDNN in torch; "
                              "use train.matmul=auto or torch")  # fmt: skip
        return "torch", "auto: oneDNN applies to fp32 on the CPU only"
    if requested == "onednn":
        return "onednn", "as requested"
    if deterministic:
        return "torch", "auto: train.deterministic keeps torch's matmul"
    from seqarena import machine

    facts = machine.facts(device)
    onednn, mm = facts.get("gemm_fp32_onednn_gflops") or 0.0, facts["gemm_fp32_torch_mm_gflops"]
    if onednn >= FASTER * mm:
        return "onednn", f"auto: oneDNN {onednn:.0f} against torch.mm {mm:.0f} GFLOP/s on this machine"
    return "torch", f"auto: torch.mm {mm:.0f} GFLOP/s, oneDNN {onednn:.0f}: not {FASTER}x faster here"
