"""Efficient attention and the selective scan against their plain references; the C++ softmax attention
(models/kernels/attention.py) against F.scaled_dot_product_attention, and where the Transformer uses it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqarena.models.attention import LinearAttention, LocalAttention, SoftmaxAttention
from seqarena.models.kernels import native
from seqarena.models.kernels.attention import attention
from seqarena.models.mamba import chunked_scan, sequential_scan
from seqarena.models.transformer import Transformer, TransformerConfig

compiled = pytest.mark.skipif(native.load("attention") is None, reason="the C++ attention kernel is not built here")


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


def sdpa(qkv: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    B, T, D = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    q, k, v = (t.view(B, T, heads, D // heads).transpose(1, 2) for t in qkv.split(D, dim=-1))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(B, T, D)


@compiled
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("batch", "steps", "width", "heads"), [(2, 1, 8, 2), (3, 63, 24, 3), (2, 65, 16, 1),
                                                               (1, 200, 32, 4)])  # fmt: skip
def test_cpp_attention_equals_sdpa(causal: bool, batch: int, steps: int, width: int, heads: int) -> None:
    torch.manual_seed(steps)
    qkv = torch.randn(batch, steps, 3 * width, requires_grad=True)
    weight = torch.randn(batch, steps, width)  # a loss that weighs every output differently
    ys, grads = [], []
    for fn in (sdpa, attention):
        y = fn(qkv, heads, causal)
        ys.append(y)
        grads.append(torch.autograd.grad((y * weight).sum(), qkv)[0])
    assert torch.allclose(ys[1], ys[0], atol=1e-5)
    assert torch.allclose(grads[1], grads[0], atol=1e-5)


@compiled
def test_the_transformer_takes_the_cpp_attention_where_it_applies_and_learns_the_same() -> None:
    layer = SoftmaxAttention(16, 2, 0.0)
    x = torch.randn(2, 10, 16)
    assert layer.fused_here(x, True, None, None)
    assert not layer.fused_here(x, True, layer.empty(2, None), None)  # continuing from a cache
    assert not layer.fused_here(x, False, None, torch.ones(2, 10, dtype=torch.bool))  # a key mask
    assert not layer.fused_here(x.double(), True, None, None)
    assert not SoftmaxAttention(16, 2, 0.0, "rope").fused_here(x, True, None, None)
    assert not SoftmaxAttention(16, 2, 0.1).train().fused_here(x, True, None, None)  # attention dropout
    assert SoftmaxAttention(16, 2, 0.1).eval().fused_here(x, True, None, None)
    assert layer.describe_kernel(torch.device("cpu")).startswith("seqarena C++ attention (up to 1024 steps causal")

    def train(steps: int = 30) -> list[float]:
        torch.manual_seed(0)
        model = Transformer(TransformerConfig(d_model=16, num_layers=2, num_heads=2, causal=True))
        head = torch.nn.Linear(16, 1)
        opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-2)
        x = torch.randn(8, 20, 16)
        target = x.cumsum(1)[..., :1] / 5  # causal: a running sum of the first channel
        losses = []
        for _ in range(steps):
            loss = F.mse_loss(head(model(x)[0]), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    cpp = train()
    with native.disabled("attention"):
        reference = train()
    assert cpp[-1] < 0.5 * cpp[0]  # it learns
    assert cpp == pytest.approx(reference, rel=1e-3)  # the same run to fp32 rounding
