"""The compute-limited recurrent models: the depthwise-separable recurrence runs the same through the C++ scan and
the PyTorch one, the tapered stack's widths and 1x1 adapters are what its config says, and each learns to forecast
noisy sines far below the last-value baseline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqarena.models.base import count_params
from seqarena.models.kernels import native
from seqarena.models.tapered import Conv1x1, Tapered, TaperedConfig
from seqarena.registry import get_model


def test_the_separable_recurrence_is_the_same_through_both_scans() -> None:
    torch.manual_seed(0)
    cls = get_model("separable_rnn")
    model = cls(cls.Config(d_model=16, num_layers=2))
    x = torch.randn(3, 40, 16, requires_grad=True)
    y1, (h1,) = model(x)
    g1 = torch.autograd.grad(y1.square().sum(), x)[0]
    with native.disabled("selective_scan"):
        y2, (h2,) = model(x)
        g2 = torch.autograd.grad(y2.square().sum(), x)[0]
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-4)
    lstm = get_model("lstm")(get_model("lstm").Config(d_model=16, num_layers=2))
    assert count_params(model) < count_params(lstm) / 2  # 3 D^2 a layer against 8 D^2


def test_the_tapered_stack_narrows_and_adapts_its_residual_path() -> None:
    model = Tapered(TaperedConfig(d_model=32, num_layers=3, taper=0.5))
    assert model.widths == [32, 16, 8] and [layer.hidden_size for layer in model.layers] == [32, 16, 8]
    assert isinstance(model.adapters[0], torch.nn.Identity) and isinstance(model.adapters[1], Conv1x1)
    assert model.adapters[1].kernel_size == (1,) and model.out.out_channels == 32
    y, state = model(torch.randn(2, 7, 32))
    assert y.shape == (2, 7, 32) and [s.shape[-1] for s in state] == [32, 32, 16, 16, 8, 8]


def _sines(gen: torch.Generator, n: int = 32, t: int = 40) -> torch.Tensor:
    phase = torch.rand(n, 1, generator=gen) * 6.28
    freq = 0.2 + 0.3 * torch.rand(n, 1, generator=gen)
    steps = torch.arange(t + 1).float()
    return (torch.sin(freq * steps + phase) + 0.05 * torch.randn(n, t + 1, generator=gen)).unsqueeze(-1)


@pytest.mark.parametrize(("name", "extra"), [("separable_rnn", {}), ("tapered", {"taper": 0.5})])
def test_compute_limited_models_learn_to_forecast_below_the_last_value(name: str, extra: dict) -> None:
    torch.manual_seed(0)
    cls = get_model(name)
    net = cls(cls.Config(d_model=32, **extra))
    inp, out = torch.nn.Linear(1, 32), torch.nn.Linear(32, 1)
    opt = torch.optim.Adam([*net.parameters(), *inp.parameters(), *out.parameters()], lr=5e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(250):
        s = _sines(gen)
        loss = F.mse_loss(out(net(inp(s[:, :-1]))[0]), s[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    s = _sines(gen, 256)
    with torch.no_grad():
        mse = float(F.mse_loss(out(net(inp(s[:, :-1]))[0])[:, 10:], s[:, 11:]))
    last_value = float(F.mse_loss(s[:, 10:-1], s[:, 11:]))
    assert mse < 0.3 * last_value, (mse, last_value)
