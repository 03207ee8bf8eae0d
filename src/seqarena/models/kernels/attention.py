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


class FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv, heads, causal):
        # qkv: (B, T, 3D) = q | k | v, heads side by side in each
        scale = 1.0 / math.sqrt(qkv.shape[-1] // 3 // heads)
        y, lse = native.load("attention").attn_forward(qkv, heads, causal, scale)  # (B, T, D), (B, h, T)
        ctx.save_for_backward(qkv, y, lse)
        ctx.heads, ctx.causal, ctx.scale = heads, causal, scale
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        qkv, y, lse = ctx.saved_tensors
        dqkv = native.load("attention").attn_backward(dy.contiguous(), qkv, y, lse, ctx.heads, ctx.causal, ctx.scale)
        return dqkv, None, None  # (B, T, 3D)


def attention(qkv: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(hd)) v per head for qkv (B, T, 3D): (B, T, D), heads side by side."""
    return FusedAttention.apply(qkv.contiguous(), heads, causal)
