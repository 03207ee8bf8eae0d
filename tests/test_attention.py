"""Efficient attention and the selective scan against their plain references."""

from __future__ import annotations

import pytest
import torch

from seqarena.models.attention import LinearAttention, LocalAttention
from seqarena.models.mamba import chunked_scan, sequential_scan


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("steps", "window", "global_tokens"), [(24, 4, 2), (37, 5, 0), (50, 3, 3), (100, 7, 12)])
def test_blocked_local_attention_equals_the_dense_mask(causal: bool, steps: int, window: int, global_tokens: int):
    torch.manual_seed(0)
    attn = LocalAttention(32, 4, 0.0, window, global_tokens).eval()
    x = torch.randn(2, steps, 32)
    empty = (torch.zeros(2, 4, 0, 8), torch.zeros(2, 4, 0, 8))
    with torch.no_grad():
        blocked, _ = attn(x, causal, None, 0)  # the O(T * window) path
        dense, _ = attn(x, causal, empty, 0)  # a (T, T) mask through SDPA
    torch.testing.assert_close(blocked, dense, rtol=1e-5, atol=1e-5)


def test_chunked_causal_linear_attention_equals_the_quadratic_form() -> None:
    torch.manual_seed(0)
    attn = LinearAttention(32, 4, 0.0, chunk=7).eval()
    x = torch.randn(2, 30, 32)
    with torch.no_grad():
        y, _ = attn(x, True, None, 0)
        q, k, v = attn.split(x)
        q, k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
        scores = (q @ k.transpose(2, 3)).tril()  # (B, h, T, T): phi(q) phi(k)^T, causal
        ref = attn.merge((scores @ v) / scores.sum(-1, keepdim=True))
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("steps", "chunk"), [(1, 4), (7, 4), (64, 16), (100, 32), (33, 1)])
def test_chunked_selective_scan_equals_the_sequential_one(steps: int, chunk: int) -> None:
    torch.manual_seed(0)
    log_decay = -torch.rand(2, steps, 6, 4) * torch.tensor([0.01, 1.0, 10.0, 100.0])  # up to exp(-100) per step
    drive, s0 = torch.randn(2, steps, 6, 4), torch.randn(2, 6, 4)
    chunked = chunked_scan(log_decay, drive, s0, chunk)
    assert torch.isfinite(chunked).all()
    torch.testing.assert_close(chunked, sequential_scan(log_decay, drive, s0), rtol=1e-5, atol=1e-5)
