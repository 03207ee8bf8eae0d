"""Mamba's selective scan through the C++ loop of selective_scan.cpp: y_t = C_t . s_t with
s_t = exp(dt_t A) s_{t-1} + dt_t u_t B_t, never materialising the (B, T, E, N) states (models/mamba.py keeps the
PyTorch scans as the reference and for other devices)."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from seqarena.models.kernels import native


class SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dt, u, a, b, c, s0):
        # dt, u: (B, T, E); a: (E, N) (negative); b, c: (B, T, N); s0: (B, E, N)
        a_t = a.t().contiguous()  # (N, E): the kernel's inner loops run along the channels
        y, s_last, checkpoints = native.load("selective_scan").scan_forward(dt, u, a_t, b, c, s0)
        ctx.save_for_backward(dt, u, a_t, b, c, checkpoints)  # the state entering every 16 steps
        return y, s_last  # (B, T, E), (B, E, N)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, ds_last):
        dt, u, a_t, b, c, checkpoints = ctx.saved_tensors
        dy = torch.zeros_like(dt) if dy is None else dy.contiguous()
        ds_last = dt.new_zeros(dt.shape[0], dt.shape[2], a_t.shape[0]) if ds_last is None else ds_last.contiguous()
        kernel = native.load("selective_scan")
        ddt, du, da_t, db, dc, ds0 = kernel.scan_backward(dy, ds_last, dt, u, a_t, b, c, checkpoints)
        return ddt, du, da_t.t(), db, dc, ds0


def selective_scan(dt, u, a, b, c, s0) -> tuple[torch.Tensor, torch.Tensor]:
    """sum_n C_tn s_ten for every step, and the last state: (B, T, E), (B, E, N)."""
    args = [t.contiguous() for t in (dt, u, a, b, c, s0)]
    return SelectiveScan.apply(*args)
