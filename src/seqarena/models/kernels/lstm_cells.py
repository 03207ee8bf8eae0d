"""The custom-cell LSTM layers (peephole, layer-norm; models/lstm_variants.py) through the C++ loops of
lstm_cells.cpp, with hand-derived backward passes; every weight's gradient is one whole-sequence op here."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from seqarena.models.kernels import native, onednn


class PeepholeNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gi, h0, c0, w_h, peep):
        # gi: (T, B, 4H) input projections with bias; h0, c0: (B, H); w_h: (4H, H); peep: (3, H)
        ctx.onednn = native.onednn_steps(h0.shape[1])  # the per-step matmuls through oneDNN where it is faster
        kernel = native.load("lstm_cells")
        hs, cs, acts = kernel.peephole_forward(gi, h0, c0, w_h.t().contiguous(), peep, ctx.onednn)
        ctx.save_for_backward(w_h, peep, hs, cs, acts)
        return hs[1:], cs[-1]  # (T, B, H), (B, H)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, grad_c):
        w_h, peep, hs, cs, acts = ctx.saved_tensors
        T, B, H = grad.shape
        grad_c = torch.zeros_like(cs[0]) if grad_c is None else grad_c.contiguous()
        da, dh0, dc0 = native.load("lstm_cells").peephole_backward(
            grad.contiguous(), grad_c, w_h.contiguous(), peep, cs, acts, ctx.onednn
        )
        dw = da.view(T * B, 4 * H).t() @ hs[:-1].reshape(T * B, H)  # (4H, H)
        dpeep = torch.stack([
            (da[..., :H] * cs[:-1]).sum((0, 1)), (da[..., H : 2 * H] * cs[:-1]).sum((0, 1)),
            (da[..., 2 * H : 3 * H] * cs[1:]).sum((0, 1)),
        ])  # fmt: skip
        return da, dh0, dc0, dw, dpeep


class LayerNormNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs, h0, c0, w_h, ln_h, ln_c, eps: float):
        # xs: (T, B, 4H) = LN_x(W_x x) + bias; ln_h: (2, 4H) and ln_c: (2, H) LayerNorm weight and bias rows
        ctx.onednn = native.onednn_steps(h0.shape[1])
        out = native.load("lstm_cells").layernorm_forward(xs, h0, c0, w_h.t().contiguous(), ln_h, ln_c, eps, ctx.onednn)
        hs, cs, u, acts, stats = out
        ctx.save_for_backward(w_h, ln_h, ln_c, hs, cs, u, acts, stats)
        return hs[1:], cs[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, grad_c):
        w_h, ln_h, ln_c, hs, cs, u, acts, stats = ctx.saved_tensors
        T, B, H = grad.shape
        grad_c = torch.zeros_like(cs[0]) if grad_c is None else grad_c.contiguous()
        da, du, dh0, dc0, d_ln_h, d_ln_c = native.load("lstm_cells").layernorm_backward(
            grad.contiguous(), grad_c, w_h.contiguous(), ln_h, ln_c, cs, u, acts, stats, ctx.onednn
        )
        dw = du.view(T * B, 4 * H).t() @ hs[:-1].reshape(T * B, H)  # (4H, H)
        return da, dh0, dc0, dw, d_ln_h, d_ln_c, None


def run_layer(layer: Any, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """What `CellLayer.forward(x, h, c)` computes, through the C++ loop: x (B, T, D) -> (B, T, H), h_T, c_T."""
    project = onednn.linear if native.onednn_matmuls() else F.linear  # oneDNN where this machine multiplies faster
    gi = project(x.transpose(0, 1), layer.w_x.weight, layer.w_x.bias)  # (T, B, 4H): every step's input projection
    h, c = h.contiguous(), c.contiguous()
    if layer.ln:
        shift = layer.ln_x.bias + layer.bias  # both add to every step's gates: one (4H,) add, not a (T, B, 4H) one
        xs = F.layer_norm(gi, gi.shape[-1:], layer.ln_x.weight, shift, layer.ln_x.eps)
        ln_h = torch.stack([layer.ln_h.weight, layer.ln_h.bias])
        ln_c = torch.stack([layer.ln_c.weight, layer.ln_c.bias])
        outs, c_last = LayerNormNative.apply(xs.contiguous(), h, c, layer.w_h.weight, ln_h, ln_c, layer.ln_h.eps)
    else:
        outs, c_last = PeepholeNative.apply(gi.contiguous(), h, c, layer.w_h.weight, layer.peep)
    return outs.transpose(0, 1), outs[-1], c_last
