"""Mamba's causal depthwise convolution and SiLU through causal_conv.cpp, in the block's (B, T, E) layout
(models/mamba.py keeps nn.Conv1d for other devices, for ONNX export and as the reference)."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqarena.models.kernels import native


class CausalConvSiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, full, w, bias):
        # full: (B, K - 1 + T, E), the previous inputs then the window; w: (K, E); bias: (E,)
        ctx.save_for_backward(full, w, bias)
        return native.load("causal_conv").conv_forward(full, w, bias)  # (B, T, E)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        full, w, bias = ctx.saved_tensors
        return tuple(native.load("causal_conv").conv_backward(dy.contiguous(), full, w, bias))


def conv_silu(full: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """silu(Conv1d(groups=E)) over time in (B, T, E): full (B, K - 1 + T, E), weight (E, 1, K), bias (E,)."""
    w = weight.squeeze(1).t().contiguous()  # (K, E): the kernel's inner loops run along the channels
    return CausalConvSiLU.apply(full.contiguous(), w, bias.contiguous())
