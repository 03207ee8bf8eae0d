"""The model half of the conformance suite: every check a registered SequenceModel must pass (models/base.py)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from seqarena.models.base import Capabilities, ForecastSpec
from seqarena.registry import get_encdec, get_model, model_names

SPEC = ForecastSpec(lookback=24, horizon=6, channels=3, period=4)  # what forecasters are built for in the checks
STEPS = 24


def _model_class(model: type | str) -> type:
    return get_model(model) if isinstance(model, str) else model


def _build(cls: type, overrides: dict[str, Any]) -> Any:
    torch.manual_seed(0)
    cfg = cls.Config(**overrides)
    return (cls(cfg, SPEC) if cls.kind == "forecaster" else cls(cfg)).eval()


def _inputs(model: Any, batch: int = 2, steps: int = STEPS) -> torch.Tensor:
    if model.kind == "forecaster":
        return torch.randn(batch, SPEC.lookback, SPEC.channels)
    return torch.randn(batch, steps, model.cfg.d_model)


def _close(a: torch.Tensor, b: torch.Tensor, what: str, tol: float = 1e-5) -> None:
    assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ"
    assert torch.allclose(a, b, rtol=tol, atol=tol), f"{what}: max difference {float((a - b).abs().max()):.3g}"


def model_checks(model: type | str, **overrides: Any) -> list[tuple[str, Callable[[], None]]]:
    """(name, check) for every check that applies to this model and config, as its declared capabilities say."""
    cls = _model_class(model)
    cap = cls.capabilities_of(cls.Config(**overrides))
    checks: list[tuple[str, Callable[[], None]]] = [
        ("declarations", lambda: check_declarations(cls, overrides)),
        ("shapes", lambda: check_shapes(cls, overrides)),
        ("save_load_round_trip", lambda: check_save_load(cls, overrides)),
        ("gradients", lambda: check_gradients(cls, overrides)),
    ]
    if cap.kind == "backbone":
        checks.append(("causality", lambda: check_causality(cls, overrides)))
        if cap.causal or cap.masks:
            checks.append(("padding", lambda: check_padding(cls, overrides)))
    checks.append(("state", lambda: check_state(cls, overrides)))
    if get_encdec(cls.name) is not None:
        checks.append(("encoder_decoder", lambda: check_encdec(cls, overrides)))
    return checks


def check_model(model: type | str, **overrides: Any) -> None:
    """Run every model check; the first failure raises an AssertionError naming its check."""
    for name, check in model_checks(model, **overrides):
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{_model_class(model).name}: check '{name}' failed: {exc}") from None


def check_declarations(cls: type, overrides: dict[str, Any]) -> None:
    """Registered under its name, a kw_only Config whose `name` defaults to it, and honest capabilities: the ones
    declared without building equal the instance's, and they agree with each other."""
    assert getattr(cls, "name", None) in model_names(), f"{cls.__name__} is not registered (@register_model)"
    assert get_model(cls.name) is cls, f"the name '{cls.name}' is registered to another class"
    assert dataclasses.is_dataclass(cls.Config), "Config must be a dataclass"
    name_field = {f.name: f for f in dataclasses.fields(cls.Config)}.get("name")
    assert name_field is not None and name_field.default == cls.name, f"Config.name must default to '{cls.name}'"
    cfg = cls.Config(**overrides)
    cap = cls.capabilities_of(cfg)
    assert isinstance(cap, Capabilities), "capabilities_of(cfg) must return a Capabilities"
    model = _build(cls, overrides)
    assert model.capabilities() == cap, "the built model's capabilities differ from capabilities_of(cfg)"
    assert cap.kind == cls.kind, f"capabilities kind '{cap.kind}' differs from the class's kind '{cls.kind}'"
    assert not (cap.causal and cap.bidirectional), "a bidirectional model cannot be causal"
    assert not cap.streaming or cap.stateful, "a streaming model must be stateful"
    if not cap.trainable:
        assert sum(p.numel() for p in model.parameters()) == 0, "trainable=False but the model has parameters"


def check_shapes(cls: type, overrides: dict[str, Any]) -> None:
    model = _build(cls, overrides)
    x = _inputs(model)
    with torch.no_grad():
        y, _ = model(x)
    want = (2, SPEC.horizon, SPEC.channels) if model.kind == "forecaster" else tuple(x.shape)
    assert tuple(y.shape) == want, f"output shape {tuple(y.shape)}, expected {want}"
    assert torch.isfinite(y).all(), "non-finite outputs"


def check_causality(cls: type, overrides: dict[str, Any]) -> None:
    """A causal backbone's output before step t never changes with inputs from t on; a non-causal one's does."""
    model = _build(cls, overrides)
    x = _inputs(model)
    changed = x.clone()
    with torch.no_grad():
        if model.capabilities().causal:
            changed[:, 12:] = torch.randn_like(changed[:, 12:])
            a, b = model(x)[0], model(changed)[0]
            _close(a[:, :12], b[:, :12], "causal, but earlier outputs changed with later inputs")
            assert not torch.allclose(a[:, 12:], b[:, 12:]), "later outputs ignore later inputs"
        else:
            changed[:, 1] += torch.randn_like(changed[:, 1])
            assert not torch.allclose(model(x)[0][:, 0], model(changed)[0][:, 0]), "not causal, but sees no future"


def check_padding(cls: type, overrides: dict[str, Any]) -> None:
    """Right padding never changes a valid step's output: causal models by construction, others by the mask."""
    model = _build(cls, overrides)
    short, long = _inputs(model, 1, 7), _inputs(model, 1, 13)
    x = torch.cat([torch.nn.functional.pad(short, (0, 0, 0, 6)), long])  # (2, 13, D)
    mask = torch.tensor([[True] * 7 + [False] * 6, [True] * 13])
    extra = {"mask": mask} if model.capabilities().masks else {}
    with torch.no_grad():
        batched, alone = model(x, **extra)[0], model(short)[0]
    _close(batched[:1, :7], alone, "padding changed the valid steps' outputs")


def check_state(cls: type, overrides: dict[str, Any]) -> None:
    """A stateful model fed in pieces (a prefix, single steps, the rest) with its state equals it fed whole; a
    stateless one refuses init_state with a TypeError."""
    model = _build(cls, overrides)
    if not model.capabilities().stateful:
        try:
            model.init_state(2)
        except TypeError:
            return
        raise AssertionError("not stateful, but init_state did not raise TypeError")
    x = _inputs(model)
    with torch.no_grad():
        full, _ = model(x)
        state, pieces = model.init_state(2), []
        for chunk in (x[:, :5], *x[:, 5:9].split(1, dim=1), x[:, 9:]):
            y, state = model(chunk, state)
            pieces.append(y)
    _close(torch.cat(pieces, dim=1), full, "stepping with the state differs from the whole sequence")


def check_save_load(cls: type, overrides: dict[str, Any]) -> None:
    model = _build(cls, overrides)
    x = _inputs(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(model, str(path))
        fresh = _build(cls, overrides)
        for p in fresh.parameters():
            torch.nn.init.normal_(p)
        load_model(fresh, str(path))
    with torch.no_grad():
        assert torch.equal(model(x)[0], fresh(x)[0]), "a model loaded from safetensors gives other outputs"


def check_gradients(cls: type, overrides: dict[str, Any]) -> None:
    model = _build(cls, overrides).train()
    if not model.capabilities().trainable:
        return
    x = _inputs(model)
    extra: dict[str, Any] = {}
    if model.capabilities().time_aware:
        extra["dt"] = torch.rand(x.shape[:2]) * 3
        if getattr(model.cfg, "masked", False):  # observation masks: exercise that path too
            extra["mask"] = (torch.rand_like(x) > 0.3).float()
    y, _ = model(x, **extra)
    y.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no finite gradient reaches {missing[:5]}"


def check_encdec(cls: type, overrides: dict[str, Any]) -> None:
    """The registered encoder-decoder form builds, runs teacher-forced and steps."""
    form = get_encdec(cls.name)
    torch.manual_seed(0)
    model = form.build(cls.Config(**overrides), 11, 13, form.attention[-1] if form.attention else "none").eval()
    src, tgt = torch.randint(4, 11, (2, 5)), torch.randint(4, 13, (2, 4))
    mask = torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        logits = model(src, mask, tgt)
        logp, _ = model.step(tgt[:, 0], model.start(src, mask))
    assert tuple(logits.shape) == (2, 4, 13), f"teacher-forced logits {tuple(logits.shape)}, expected (2, 4, 13)"
    assert tuple(logp.shape) == (2, 13), f"step log-probabilities {tuple(logp.shape)}, expected (2, 13)"
