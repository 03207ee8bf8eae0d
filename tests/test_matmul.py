"""oneDNN linear layers (train.matmul): the same numbers as F.linear, forward and every gradient; the fallbacks
(autocast, other dtypes, 1-D inputs); the auto choice by the machine's measured GEMM speeds; FLOPs still counted;
a run records its choice and trains to the same loss as torch's matmul."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import seqarena
from seqarena import machine
from seqarena.errors import ConfigError
from seqarena.models.kernels import onednn
from seqarena.training import matmul

pytestmark = pytest.mark.skipif(matmul.op() is None, reason="this torch build has no oneDNN linear op")


def pair(bias: bool, sizes: tuple[int, int] = (24, 40)) -> tuple[nn.Linear, nn.Linear]:
    torch.manual_seed(0)
    ref = nn.Linear(*sizes, bias=bias)
    new = nn.Linear(*sizes, bias=bias)
    new.load_state_dict(ref.state_dict())
    assert matmul.install(new) == 1
    return ref, new


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-6))


@pytest.mark.parametrize("shape", [(7,), (3, 5)], ids=["2-d", "3-d"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("sizes", [(24, 40), (40, 24)], ids=["widening", "narrowing"])  # both weight-grad layouts
def test_onednn_linear_equals_f_linear_forward_and_gradients(shape, bias, sizes) -> None:
    ref, new = pair(bias, sizes)
    shape = (*shape, sizes[0])
    results = []
    for layer in (ref, new):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1), requires_grad=True)
        y = layer(x)
        weight = torch.linspace(-1, 1, y.numel()).view_as(y)  # every output weighs differently in the loss
        (y * weight).sum().backward()
        results.append([y.detach(), x.grad, *(p.grad for p in layer.parameters())])
    assert new.forward.__func__ is matmul._forward  # routed, and per call oneDNN (usable here)
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape and rel(a, b) < 1e-5


def test_fallbacks_take_f_linear() -> None:
    ref, new = pair(True)
    x = torch.randn(4, 24)
    assert not onednn.usable(x[0], new.weight)  # 1-D
    assert not onednn.usable(x.double(), new.weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn.usable(x, new.weight)
        assert new(x).dtype == ref(x).dtype == torch.bfloat16  # autocast still applies
    assert torch.equal(new(x[0]), ref(x[0]))


def test_auto_chooses_by_the_measured_speeds(monkeypatch) -> None:
    cpu = torch.device("cpu")
    facts = {"gemm_fp32_torch_mm_gflops": 100.0, "gemm_fp32_onednn_gflops": 250.0}
    monkeypatch.setattr(machine, "facts", lambda device=None, refresh=False: facts)
    assert matmul.choose("auto", cpu, "fp32")[0] == "onednn"
    assert matmul.choose("auto", cpu, "fp32", deterministic=True)[0] == "torch"
    assert matmul.choose("auto", cpu, "bf16")[0] == "torch"
    facts["gemm_fp32_onednn_gflops"] = 110.0  # under 1.2x: not worth a different kernel
    used, why = matmul.choose("auto", cpu, "fp32")
    assert used == "torch" and why == "auto: torch.mm 100 GFLOP/s, oneDNN 110: not 1.2x faster here"
    assert matmul.choose("onednn", cpu, "fp32")[0] == "onednn" and matmul.choose("torch", cpu, "fp32")[0] == "torch"
    with pytest.raises(ConfigError, match="train.matmul=onednn needs fp32"):
        matmul.choose("onednn", cpu, "bf16")


def test_flops_are_counted_through_onednn() -> None:
    ref, new = pair(True)
    x = torch.randn(6, 24, requires_grad=True)
    counted = [machine.step_flops(lambda layer=layer: layer(x).sum().backward()) for layer in (ref, new)]
    assert counted[0] == counted[1] == 3 * 2 * 6 * 24 * 40  # forward, input and weight gradients


def test_a_run_records_its_matmul_and_trains_the_same(tmp_path) -> None:
    base = {
        "task": {"data": "synthetic", "data_args": {"length": 600, "channels": 2}, "lookback": 24, "horizon": 6},
        "model": {"name": "transformer", "d_model": 16, "num_layers": 1},
        "train": {"max_epochs": 2, "batch_size": 16, "progress": False, "threads": 1, "patience": None},
    }
    losses = {}
    for choice in ("torch", "onednn"):
        cfg = json.loads(json.dumps(base))
        cfg["train"]["matmul"] = choice
        result = seqarena.train(cfg, tmp_path / choice, log=lambda _: None)
        info = json.loads((tmp_path / choice / "run.json").read_text())
        assert info["environment"]["matmul"] == choice and info["environment"]["matmul_reason"] == "as requested"
        losses[choice] = [row["train_loss"] for row in result.history]
    assert losses["onednn"][-1] < losses["onednn"][0]  # it learns
    assert losses["onednn"] == pytest.approx(losses["torch"], rel=1e-4)  # fp32 sums in another order, no more
