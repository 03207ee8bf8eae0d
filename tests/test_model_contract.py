"""The conformance test every registered model must pass (scikit-learn's check_estimator idea)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_model, save_model

from seqarena.models.base import ForecastSpec, SequenceModel
from seqarena.registry import get_model, model_names

SPEC = ForecastSpec(lookback=24, horizon=6, channels=3, period=4)
VARIANTS = {  # extra configurations worth covering beyond the defaults
    "lstm": [{"residual": True}, {"bidirectional": True}, {"num_layers": 3, "dropout": 0.1}],
    "gru": [{"residual": True}, {"bidirectional": True}],
    "rnn": [{"nonlinearity": "relu"}, {"residual": True}],
    "transformer": [{"causal": True}, {"causal": True, "positions": "learned"}, {"positions": "none"}],
    "linear": [{"individual": True}, {"decompose": False}],
    "local_attention": [
        {"causal": True, "window": 4, "global_tokens": 2},
        {"window": 3, "global_tokens": 0},
        {"causal": True, "window": 1, "global_tokens": 0},
    ],
    "linear_attention": [{"chunk": 5}, {"causal": False}],
    "tcn": [{"separable": True}, {"kernel_size": 2, "num_layers": 2, "dropout": 0.1}],
    "s4d": [{"d_state": 8, "num_layers": 1}],
    "hybrid": [{"pattern": "RA", "rnn": "gru"}, {"pattern": "AAR", "dropout": 0.1}],
    "lstm_attention": [{"num_layers": 2}],
    "lstm_gru": [{"lstm_layers": 2, "gru_layers": 1}],
    "peephole_lstm": [{"num_layers": 1}, {"num_layers": 3, "dropout": 0.1}],
    "layernorm_lstm": [{"num_layers": 1}],
    "mamba": [{"d_state": 4, "expand": 1, "d_conv": 2, "num_layers": 1}, {"scan": "chunked", "scan_chunk": 5}],
    "grud": [{"num_layers": 2, "dropout": 0.1}, {"masked": True}],
}
CASES = [(name, {}) for name in model_names()] + [(n, v) for n, vs in VARIANTS.items() for v in vs]


def build(name: str, overrides: dict) -> SequenceModel:
    cls = get_model(name)
    cfg = cls.Config(**overrides)
    torch.manual_seed(0)
    model = cls(cfg, SPEC) if cls.kind == "forecaster" else cls(cfg)
    return model.eval()


def inputs(model: SequenceModel, batch: int = 2, steps: int = 24) -> torch.Tensor:
    width = SPEC.channels if model.kind == "forecaster" else model.cfg.d_model
    return torch.randn(batch, SPEC.lookback if model.kind == "forecaster" else steps, width)


def ids(case: tuple[str, dict]) -> str:
    name, extra = case
    return name + "".join(f"-{k}={v}" for k, v in extra.items())


def select(predicate) -> dict:
    chosen = [c for c in CASES if predicate(build(*c))]
    return {"argvalues": chosen, "ids": [ids(c) for c in chosen]}


CAUSAL = select(lambda m: m.kind == "backbone" and m.capabilities().causal)
NON_CAUSAL = select(lambda m: m.kind == "backbone" and not m.capabilities().causal)
STATEFUL = select(lambda m: m.capabilities().stateful)
STATELESS = select(lambda m: not m.capabilities().stateful)


@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
def test_shapes_and_capabilities(case: tuple[str, dict]) -> None:
    model = build(*case)
    x = inputs(model)
    y, _ = model(x)
    cap = model.capabilities()
    if cap.kind == "forecaster":
        assert y.shape == (2, SPEC.horizon, SPEC.channels)
    else:
        assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert not (cap.causal and cap.bidirectional)


@pytest.mark.parametrize("case", **CAUSAL)
def test_causality(case: tuple[str, dict]) -> None:
    model = build(*case)
    x = inputs(model)
    changed = x.clone()
    changed[:, 12:] = torch.randn_like(changed[:, 12:])
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :12], b[:, :12], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(a[:, 12:], b[:, 12:])


@pytest.mark.parametrize("case", **NON_CAUSAL)
def test_non_causal_models_see_the_future(case: tuple[str, dict]) -> None:
    model = build(*case)
    x = inputs(model)
    changed = x.clone()
    changed[:, 1] += torch.randn_like(changed[:, 1])  # the step right after position 0
    with torch.no_grad():
        assert not torch.allclose(model(x)[0][:, 0], model(changed)[0][:, 0])


@pytest.mark.parametrize("case", **STATELESS)
def test_stateless_models_refuse_state(case: tuple[str, dict]) -> None:
    with pytest.raises(TypeError):
        build(*case).init_state(2)


@pytest.mark.parametrize("case", **STATEFUL)
def test_step_by_step_equals_full_sequence(case: tuple[str, dict]) -> None:
    model = build(*case)
    x = inputs(model)
    with torch.no_grad():
        full, _ = model(x)
        state = model.init_state(2)
        pieces = []
        for chunk in (x[:, :5], *x[:, 5:9].split(1, dim=1), x[:, 9:]):  # a prefix, single steps, the rest
            y, state = model(chunk, state)
            pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
def test_save_load_round_trip(case: tuple[str, dict], tmp_path) -> None:
    model = build(*case)
    x = inputs(model)
    path = tmp_path / "model.safetensors"
    save_model(model, str(path))
    torch.manual_seed(123)  # a different initialisation, then overwritten by the file
    fresh = build(*case)
    for p in fresh.parameters():
        torch.nn.init.normal_(p)
    load_model(fresh, str(path))
    with torch.no_grad():
        assert torch.equal(model(x)[0], fresh(x)[0])


@pytest.mark.parametrize("case", CASES, ids=[ids(c) for c in CASES])
def test_gradients_reach_every_parameter(case: tuple[str, dict]) -> None:
    model = build(*case).train()
    if not model.capabilities().trainable:
        assert sum(p.numel() for p in model.parameters()) == 0
        return
    x = inputs(model)
    if getattr(model.cfg, "masked", False):  # time-aware with missing inputs: exercise the mask path
        y, _ = model(x, dt=torch.rand(x.shape[:2]) * 3, mask=(torch.rand_like(x) > 0.3).float())
    else:
        y, _ = model(x)
    y.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


BACKBONES = select(lambda m: m.kind == "backbone")


@pytest.mark.parametrize("case", **BACKBONES)
def test_every_backbone_classifies_a_padded_batch_as_each_sequence_alone(case: tuple[str, dict]) -> None:
    """Right padding never changes a valid step's output: causal models by construction, the others by masks."""
    from seqarena.tasks.classify import collate
    from seqarena.tasks.classify_model import ClassifyModel

    net = build(*case)
    clf = ClassifyModel(net, 2, 3, "mean").eval()
    short, long = torch.randn(7, 2), torch.randn(13, 2)
    x, mask = collate([short, long])
    with torch.no_grad():
        batched = clf(x, mask)
        alone = clf(short[None], torch.ones(1, 7, dtype=torch.bool))
    assert torch.isfinite(batched).all()
    assert torch.allclose(batched[0], alone[0], atol=1e-5)
    assert "classify" in net.capabilities().tasks
