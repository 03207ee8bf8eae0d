"""seqarena's C++ softmax attention (models/kernels/attention.py) against F.scaled_dot_product_attention (PyTorch's
CPU flash kernel), forward + backward over a fused (B, T, 3D) q|k|v projection, printed as JSON.

Each case times both in alternation (median of `--reps` after a warm-up) and reports the ratio C++ / SDPA. The
Transformer takes the C++ kernel only up to CAUSAL_MAX_T (causal) and FULL_MAX_T (bidirectional); the cases beyond
show why. The output check is against SDPA's result (max abs difference of forward and gradient).

    .venv/bin/python benchmarks/attention_speed.py [--reps 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from seqarena.models.kernels import attention as fused
from seqarena.models.kernels import native

CASES = [  # batch, T, width, heads, causal
    (12, 64, 128, 4, True),  # nanoGPT's CPU Tiny Shakespeare configuration
    (32, 256, 256, 4, True),  # the utilisation run of docs/results/speed.md
    (32, 256, 256, 4, False),
    (8, 512, 256, 4, True),
    (8, 512, 256, 4, False),
    (4, 1024, 256, 4, True),
    (4, 1024, 256, 4, False),  # beyond FULL_MAX_T
    (1, 4096, 256, 4, True),  # beyond CAUSAL_MAX_T
]


def sdpa(qkv: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    B, T, D = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    q, k, v = (t.view(B, T, heads, D // heads).transpose(1, 2) for t in qkv.split(D, dim=-1))  # (B, h, T, hd)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(B, T, D)


def step(fn, qkv: torch.Tensor, grad: torch.Tensor, heads: int, causal: bool) -> float:
    qkv.grad = None
    began = time.perf_counter()
    fn(qkv, heads, causal).backward(grad)
    return time.perf_counter() - began


def case(batch: int, steps: int, width: int, heads: int, causal: bool, reps: int) -> dict:
    torch.manual_seed(0)
    qkv = torch.randn(batch, steps, 3 * width, requires_grad=True)
    grad = torch.randn(batch, steps, width)
    y_ref = sdpa(qkv, heads, causal)
    (g_ref,) = torch.autograd.grad(y_ref, qkv, grad)
    y_new = fused.attention(qkv, heads, causal)
    (g_new,) = torch.autograd.grad(y_new, qkv, grad)
    times: dict[str, list[float]] = {"cpp": [], "sdpa": []}
    for _ in range(2):  # warm-up
        step(fused.attention, qkv, grad, heads, causal), step(sdpa, qkv, grad, heads, causal)
    for i in range(reps):  # alternate, so drifting host load falls on both
        order = [("cpp", fused.attention), ("sdpa", sdpa)][:: 1 if i % 2 == 0 else -1]
        for name, fn in order:
            times[name].append(step(fn, qkv, grad, heads, causal))
    cpp, ref = statistics.median(times["cpp"]) * 1e3, statistics.median(times["sdpa"]) * 1e3
    limit = fused.CAUSAL_MAX_T if causal else fused.FULL_MAX_T
    return {
        "batch": batch,
        "T": steps,
        "width": width,
        "heads": heads,
        "causal": causal,
        "cpp_ms": round(cpp, 2),
        "sdpa_ms": round(ref, 2),
        "ratio": round(cpp / ref, 3),
        "used_by_transformer": steps <= limit,
        "max_abs_diff": float(max((y_new - y_ref).abs().max(), (g_new - g_ref).abs().max()).detach()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    if native.load("attention") is None:
        raise SystemExit(f"the C++ attention kernel is not available: {native.status('attention')}")
    rows = [case(*c, reps=args.reps) for c in CASES]
    used = [r["ratio"] for r in rows if r["used_by_transformer"]]
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "cases": rows,
                      "worst_ratio_where_used": max(used)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
