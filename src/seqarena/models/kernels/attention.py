"""Softmax attention over the fused q|k|v projection through attention.cpp, for training and whole-sequence
inference without a mask, dropout or a cache (models/attention.py keeps F.scaled_dot_product_attention for
everything else, for other devices, ONNX export and as the reference). On a 2-core Xeon, batch 32, 4 heads of 64,
T 256, causal: 28 ms forward + backward against SDPA's CPU flash kernel's 45 ms (benchmarks/attention_speed.py)."""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from seqarena.models.kernels import native

# Above these lengths SDPA's CPU flash kernel, which blocks the keys too, measured faster (its score blocks stay in
# cache; these hold a block's queries against every key): at T 4096, causal, 159 against 145 ms.
CAUSAL_MAX_T, FULL_MAX_T = 1024, 512


# torch.library ops around the C++ calls, so that FlopCounterMode (run.json's FLOPs) sees them


@torch.library.custom_op("seqarena::attention_forward", mutates_args=())
def forward_op(qkv: torch.Tensor, heads: int, causal: bool, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    y, lse = native.load("attention").attn_forward(qkv, heads, causal, scale)  # (B, T, D), (B, h, T)
    return y, lse


@torch.library.custom_op("seqarena::attention_backward", mutates_args=())
def backward_op(
    dy: torch.Tensor, qkv: torch.Tensor, y: torch.Tensor, lse: torch.Tensor, heads: int, causal: bool, scale: float
) -> torch.Tensor:
    return native.load("attention").attn_backward(dy, qkv, y, lse, heads, causal, scale)  # (B, T, 3D)


def _heads_shape(qkv_shape, heads: int) -> list[int]:
    """(B, h, T, hd): the shape of q, k, v and the output in torch's SDPA FLOP formulas."""
    B, T, D = qkv_shape[0], qkv_shape[1], qkv_shape[2] // 3
    return [B, heads, T, D // heads]


def count_flops() -> None:
    """The FLOPs torch counts for F.scaled_dot_product_attention (the full T x T products, also when causal),
    for the same attention through these ops."""
    from torch.utils.flop_counter import register_flop_formula, sdpa_backward_flop_count, sdpa_flop_count

    @register_flop_formula(torch.ops.seqarena.attention_forward)
    def _forward(qkv_shape, heads, *args, out_shape=None, **kwargs) -> int:
        q = _heads_shape(qkv_shape, heads)
        return sdpa_flop_count(q, q, q)

    @register_flop_formula(torch.ops.seqarena.attention_backward)
    def _backward(dy_shape, qkv_shape, y_shape, lse_shape, heads, *args, out_shape=None, **kwargs) -> int:
        q = _heads_shape(qkv_shape, heads)
        return sdpa_backward_flop_count(q, q, q, q)  # the output's shape is q's


count_flops()


class FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv, heads, causal):
        # qkv: (B, T, 3D) = q | k | v, heads side by side in each
        scale = 1.0 / math.sqrt(qkv.shape[-1] // 3 // heads)
        y, lse = forward_op(qkv, heads, causal, scale)  # (B, T, D), (B, h, T)
        ctx.save_for_backward(qkv, y, lse)
        ctx.heads, ctx.causal, ctx.scale = heads, causal, scale
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        qkv, y, lse = ctx.saved_tensors
        return backward_op(dy.contiguous(), qkv, y, lse, ctx.heads, ctx.causal, ctx.scale), None, None


def attention(qkv: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd)) v per head for qkv (B, T, 3D): (B, T, D), heads side by side."""
    return FusedAttention.apply(qkv.contiguous(), heads, causal)
