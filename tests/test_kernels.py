"""seqarena's recurrent kernels (models/kernels) against the reference math: the GRU against nn.GRU, the custom
cells' C++ loops against their autograd loops; forward, final state and every gradient within 1e-5."""

from __future__ import annotations

import contextlib

import pytest
import torch

from seqarena.models.kernels import native
from seqarena.models.lstm_variants import CellLSTMConfig, LayerNormLSTM, LayerNormLSTMConfig, PeepholeLSTM
from seqarena.models.rnn import GRU, GRUConfig


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    assert a.shape == b.shape
    if a.numel() == 0:  # e.g. the empty convolution state of d_conv = 1
        return 0.0
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-6))


def compare(ref: torch.nn.Module, new: torch.nn.Module, x: torch.Tensor, state) -> None:
    new.load_state_dict(ref.state_dict())
    outs = []
    for model in (ref, new):
        y, final = model(x, state)
        weight = torch.linspace(-1, 1, y.numel()).view_as(y)  # a loss that weighs every output differently
        loss = (y * weight).sum() + sum((s * (i + 2)).sum() for i, s in enumerate(final))
        inputs = [x, *(state or ())]
        grads = torch.autograd.grad(loss, inputs + list(model.parameters()))
        outs.append((y, final, grads))
    (y0, f0, g0), (y1, f1, g1) = outs
    assert max_rel(y0, y1) < 1e-5
    assert all(max_rel(a, b) < 1e-5 for a, b in zip(f0, f1, strict=True))
    names = ["x", *(f"state{i}" for i in range(len(state or ())))] + [n for n, _ in ref.named_parameters()]
    worst = {n: max_rel(a, b) for n, a, b in zip(names, g0, g1, strict=True)}
    assert max(worst.values()) < 1e-5, worst


@pytest.mark.parametrize("use_native", [True, False], ids=["cpp", "python"])
@pytest.mark.parametrize(
    "options",
    [{}, {"num_layers": 3}, {"bidirectional": True}, {"residual": True}, {"d_model": 37, "num_layers": 1}],
    ids=["2-layer", "3-layer", "bidirectional", "residual", "odd-width"],
)
def test_gru_kernel_equals_nn_gru(options, use_native) -> None:
    if use_native and native.load("gru") is None:
        pytest.fail(f"the C++ GRU kernel did not build here: {native.status('gru')}")
    torch.manual_seed(0)
    options = {"d_model": 24, **options}
    ref = GRU(GRUConfig(kernel="torch", **options))
    new = GRU(GRUConfig(kernel="seqarena", **options))
    x = torch.randn(5, 19, ref.cfg.d_model, requires_grad=True)
    state = None if ref.cfg.bidirectional else tuple(s.normal_().requires_grad_() for s in ref.init_state(5))
    with contextlib.nullcontext() if use_native else native.disabled("gru"):
        compare(ref, new, x, state)


@pytest.mark.parametrize("kind", ["gru", "peephole", "layernorm"])
def test_onednn_per_step_matmuls_equal_the_references(kind, monkeypatch) -> None:
    """Where the machine multiplies faster with oneDNN (forced here), the C++ loops from width 128 take their
    per-step matmuls through it: still the reference's numbers, forward and every gradient."""
    from seqarena.models.kernels import onednn

    if onednn.op() is None:
        pytest.skip("this torch build has no oneDNN linear op")
    monkeypatch.setattr(onednn, "_faster", [True])
    assert native.onednn_steps(128) and not native.onednn_steps(127)
    torch.manual_seed(0)
    one = {"d_model": 128, "num_layers": 1}
    if kind == "gru":
        ref, new = GRU(GRUConfig(kernel="torch", **one)), GRU(GRUConfig(kernel="seqarena", **one))
    else:
        cls, cfg_cls = (PeepholeLSTM, CellLSTMConfig) if kind == "peephole" else (LayerNormLSTM, LayerNormLSTMConfig)
        ref, new = cls(cfg_cls(kernel="torch", **one)), cls(cfg_cls(**one))
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 7, 128, requires_grad=True)
    state = tuple(s.normal_().requires_grad_() for s in ref.init_state(3))
    compare(ref, new, x, state)


@pytest.mark.parametrize("cls,cfg_cls", [(PeepholeLSTM, CellLSTMConfig), (LayerNormLSTM, LayerNormLSTMConfig)])
def test_cell_kernels_equal_their_autograd_loops(cls, cfg_cls) -> None:
    if native.load("lstm_cells") is None:
        pytest.fail(f"the C++ cell kernels did not build here: {native.status('lstm_cells')}")
    torch.manual_seed(0)
    ref = cls(cfg_cls(kernel="torch", d_model=24, num_layers=2))
    with torch.no_grad():  # move every parameter off its initial value (peepholes start at zero, norms at one)
        for p in ref.parameters():
            p.add_(0.3 * torch.randn_like(p))
    new = cls(cfg_cls(d_model=24, num_layers=2))
    x = torch.randn(5, 13, 24, requires_grad=True)
    state = tuple(s.normal_().requires_grad_() for s in ref.init_state(5))
    compare(ref, new, x, state)
    assert new.describe_kernel(torch.device("cpu")) == "seqarena C++ loop"
    assert ref.describe_kernel(torch.device("cpu")) == "autograd loop"


def test_the_gru_kernel_is_used_on_the_cpu_and_nn_gru_where_it_cannot_apply() -> None:
    auto = GRU(GRUConfig(d_model=8))
    cpu = torch.device("cpu")
    assert auto.describe_kernel(cpu) == "seqarena C++ loop"
    assert auto.describe_kernel(torch.device("cuda")) == "torch nn.GRU"  # cuDNN
    assert GRU(GRUConfig(kernel="torch")).describe_kernel(cpu) == "torch nn.GRU"
    x = torch.randn(2, 6, 8)
    assert auto._scan(x, None) and not auto._scan(x, torch.tensor([6, 3]))  # padded batches: packed nn.GRU
    with native.disabled("gru"):
        assert auto.describe_kernel(cpu).startswith("seqarena Python loop")


def test_a_kernel_that_cannot_build_falls_back_with_a_reason(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEQARENA_KERNEL_DIR", str(tmp_path))
    assert native.load("no_such_kernel") is None
    assert native.status("no_such_kernel").startswith("not built (FileNotFoundError")
    monkeypatch.setenv("SEQARENA_NATIVE_KERNELS", "0")
    native._loaded.pop("no_such_kernel")
    assert native.load("no_such_kernel") is None and "SEQARENA_NATIVE_KERNELS=0" in native.status("no_such_kernel")
    native._loaded.pop("no_such_kernel")


@pytest.mark.parametrize(
    "width,steps,d_conv", [(16, 150, 4), (4, 9, 4), (8, 20, 1)], ids=["chunks-and-threads", "one-slice", "no-past"]
)
def test_mamba_cpp_kernels_equal_the_pytorch_block(width, steps, d_conv) -> None:
    """The C++ scan and causal convolution against the sequential scan and nn.Conv1d: outputs, the carried state
    (the convolution's last inputs and the SSM state) and every gradient."""
    for kernel in ("selective_scan", "causal_conv"):
        if native.load(kernel) is None:
            pytest.fail(f"the C++ {kernel} kernel did not build here: {native.status(kernel)}")
    from seqarena.models.mamba import Mamba, MambaConfig

    torch.manual_seed(0)
    ref = Mamba(MambaConfig(scan="sequential", d_model=width, d_conv=d_conv))
    new = Mamba(MambaConfig(d_model=width, d_conv=d_conv))
    x = torch.randn(3, steps, width, requires_grad=True)  # 150 steps: ten chunks of the backward's 16
    state = tuple(s.normal_().requires_grad_() for s in ref.init_state(3))
    compare(ref, new, x, state)
    assert new.describe_kernel(torch.device("cpu")) == "seqarena C++ scan, C++ convolution"
    assert ref.describe_kernel(torch.device("cpu")) == "sequential scan"


def test_saturating_inputs_stay_finite_and_exact() -> None:
    """-ffast-math assumes finite values: gates driven far into saturation must not turn an overflowing exp into
    NaN (a classification set of raw 0-255 pixels did)."""
    torch.manual_seed(0)
    x = 1000 * torch.randn(4, 28, 16)
    ref, new = GRU(GRUConfig(kernel="torch", d_model=16)), GRU(GRUConfig(d_model=16))
    new.load_state_dict(ref.state_dict())
    assert max_rel(ref(x)[0], new(x.requires_grad_())[0]) < 1e-5
    assert torch.isfinite(torch.autograd.grad(new(x)[0].sum(), x)[0]).all()
    for cls, cfg_cls in ((PeepholeLSTM, CellLSTMConfig), (LayerNormLSTM, LayerNormLSTMConfig)):
        ref, new = cls(cfg_cls(kernel="torch", d_model=16)), cls(cfg_cls(d_model=16))
        new.load_state_dict(ref.state_dict())
        y = new(x)[0]
        assert max_rel(ref(x)[0], y) < 1e-5 and torch.isfinite(torch.autograd.grad(y.sum(), x)[0]).all()


def test_a_killed_builds_lock_is_cleared_but_a_running_builds_is_kept(tmp_path) -> None:
    """torch's build lock outlives a killed build; the next first use would wait for it forever."""
    import os
    import time

    stale, fresh = tmp_path / "stale.lock", tmp_path / "fresh.lock"
    for lock in (stale, fresh):
        lock.touch()
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    native._clear_stale_lock(stale)
    native._clear_stale_lock(fresh)
    native._clear_stale_lock(tmp_path / "absent.lock")  # nothing to clear is fine
    assert not stale.exists() and fresh.exists()
