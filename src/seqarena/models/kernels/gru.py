"""A GRU layer with exactly nn.GRU's math (gate order r, z, n; `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`,
`h' = (1 - z) * n + z * h`) and a hand-derived backward.

Forward per step: one addmm and four elementwise ops, each writing into a time-major buffer. Backward: every
derivative is linear in dL/dh_t given the saved activations, so the per-gate coefficients are computed for the
whole sequence at once and the reverse loop is three ops per step (a scale, an addcmul, an addmm)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from seqarena.models.kernels import native, onednn


class GRUScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gi: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        # gi: (T, B, 3H) input projections with b_ih; h0: (B, H); w_hh: (3H, H); b_hh: (3H,)
        T, B, H3 = gi.shape
        H = H3 // 3
        hs = gi.new_empty(T + 1, B, H + 1)  # hs[0] = h0, hs[t + 1] = h_t; a last column of ones carries b_hh
        hs[..., H] = 1.0
        hs[0, :, :H] = h0
        w = torch.cat([w_hh.t(), b_hh.unsqueeze(0)])  # (H + 1, 3H): one mm gives W_hh h + b_hh, no bias copy
        gh = gi.new_empty(T, B, H3)
        rz = gi.new_empty(T, B, 2 * H)
        n = gi.new_empty(T, B, H)
        gi_rz, gi_n = gi[..., : 2 * H].unbind(0), gi[..., 2 * H :].unbind(0)
        gh_all, gh_rz, gh_n = gh.unbind(0), gh[..., : 2 * H].unbind(0), gh[..., 2 * H :].unbind(0)
        rz_all, r, z = rz.unbind(0), rz[..., :H].unbind(0), rz[..., H:].unbind(0)
        n_all, h_aug, h_all = n.unbind(0), hs.unbind(0), hs[..., :H].unbind(0)
        for t in range(T):
            torch.mm(h_aug[t], w, out=gh_all[t])  # (B, 3H)
            torch.sigmoid(torch.add(gi_rz[t], gh_rz[t]), out=rz_all[t])  # (B, 2H)
            torch.tanh(torch.addcmul(gi_n[t], r[t], gh_n[t]), out=n_all[t])  # (B, H)
            torch.lerp(n_all[t], h_all[t], z[t], out=h_all[t + 1])  # n + z * (h - n)
        ctx.save_for_backward(w_hh, hs, gh, rz, n)
        return hs[1:, :, :H]  # (T, B, H)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        w_hh, hs, gh, rz, n = ctx.saved_tensors
        T, B, H = n.shape
        prev = hs[:-1]  # (T, B, H + 1): h_{t-1} and the ones column
        r, z = rz[..., :H], rz[..., H:]
        coef = n.new_empty(T, B, 3, H)  # d(W_hh h_{t-1} + b_hh) / d h_t per gate, for the whole sequence
        dn = torch.addcmul(torch.ones_like(n), n, n, value=-1).mul_(1 - z)  # (1 - n^2)(1 - z): d pre-n / d h_t
        torch.mul(dn, r, out=coef[:, :, 2])
        torch.mul(coef[:, :, 2], gh[..., 2 * H :], out=coef[:, :, 0]).mul_(1 - r)
        torch.mul(prev[..., :H] - n, z, out=coef[:, :, 1]).mul_(1 - z)
        dh = torch.empty_like(n)  # dL/dh_t through every path
        dh[T - 1] = grad[T - 1]
        dh_all, coef_all, z_all, grad_all = dh.unbind(0), coef.view(T, B, 3 * H).unbind(0), z.unbind(0), grad.unbind(0)
        for t in range(T - 1, 0, -1):
            dgh = torch.mul(dh_all[t].repeat(1, 3), coef_all[t])  # (B, 3H): dL / d(W_hh h_{t-1} + b_hh)
            torch.addmm(torch.addcmul(grad_all[t - 1], dh_all[t], z_all[t]), dgh, w_hh, out=dh_all[t - 1])
        dh0 = torch.addmm(dh_all[0] * z_all[0], dh_all[0].repeat(1, 3) * coef_all[0], w_hh)  # (B, H)
        dgh = coef.mul_(dh.unsqueeze(2)).view(T * B, 3 * H)  # coef is spent: reuse its memory
        dgi = dgh.clone().view(T, B, 3, H)
        torch.mul(dh, dn, out=dgi[:, :, 2])  # the input path of n skips the reset gate
        dwb = dgh.t() @ prev.reshape(T * B, H + 1)  # (3H, H + 1): the weight and, from the ones, the bias
        return dgi.view(T, B, 3 * H), dh0, dwb[:, :H], dwb[:, H]


class GRUNative(torch.autograd.Function):
    """The same layer with the loop in C++ (gru.cpp): float32 on the CPU."""

    @staticmethod
    def forward(ctx, gi: torch.Tensor, h0: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        H = h0.shape[1]
        w = torch.cat([w_hh.t(), b_hh.unsqueeze(0)])  # (H + 1, 3H)
        ctx.onednn = native.onednn_steps(H)  # the per-step matmuls through oneDNN where it is faster
        hs, gh, rzn = native.load("gru").gru_forward(gi, h0, w, ctx.onednn)
        ctx.save_for_backward(w_hh, hs, gh, rzn)
        return hs[1:, :, :H]  # (T, B, H)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        w_hh, hs, gh, rzn = ctx.saved_tensors
        kernel = native.load("gru")
        dgi, dh0, dwb = kernel.gru_backward(grad.contiguous(), w_hh.contiguous(), hs, gh, rzn, ctx.onednn)
        H = dh0.shape[1]
        return dgi, dh0, dwb[:, :H], dwb[:, H]


def gru_layer(
    x: torch.Tensor,
    h0: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    use_native: bool = True,
) -> torch.Tensor:
    """One GRU layer over x: (T, B, D) time-major, h0: (B, H) -> (T, B, H). The C++ loop when it is built and
    the tensors are float32 on the CPU, else the Python one."""
    project = onednn.linear if use_native and native.onednn_matmuls() else F.linear  # oneDNN where faster here
    gi = project(x, w_ih, b_ih).contiguous()  # (T, B, 3H): every step's input projection in one matmul
    h0 = h0.contiguous()
    fast = use_native and native.usable("gru", gi)
    return (GRUNative if fast else GRUScan).apply(gi, h0, w_hh, b_hh)


def run_gru(module: torch.nn.GRU, x: torch.Tensor, hx: torch.Tensor | None, use_native: bool = True):
    """What `module(x, hx)` computes for a batch-first nn.GRU (any layers, directions, dropout between layers),
    through these kernels: x: (B, T, D), hx: (L * dirs, B, H) -> y: (B, T, dirs * H), h_n: (L * dirs, B, H)."""
    dirs = 2 if module.bidirectional else 1
    B, H = x.shape[0], module.hidden_size
    if hx is None:
        hx = x.new_zeros(module.num_layers * dirs, B, H)
    inp = x.transpose(0, 1)  # (T, B, D) time-major
    finals = []
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            weights = [getattr(module, f"{kind}{sfx}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            seq = inp.flip(0) if d else inp
            y = gru_layer(seq, hx[layer * dirs + d], *weights, use_native=use_native)  # (T, B, H)
            finals.append(y[-1])
            outs.append(y.flip(0) if d else y)
        inp = outs[0] if dirs == 1 else torch.cat(outs, 2)  # (T, B, dirs * H)
        if module.dropout and module.training and layer < module.num_layers - 1:
            inp = F.dropout(inp, module.dropout, training=True)
    return inp.transpose(0, 1), torch.stack(finals)
