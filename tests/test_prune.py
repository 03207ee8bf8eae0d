"""Structured pruning (train.prune): the smaller model computes exactly the old one with the removed units silenced,
a pruned run records what it removed and loads as the smaller model, fine-tuning recovers what the cut cost, and
what cannot be pruned is refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import count_params
from seqarena.registry import get_model
from seqarena.run import evaluate, load, train
from seqarena.training.prune import prune

QUIET = {"log": lambda _: None}
TASK = {"name": "forecast", "data": "co2", "lookback": 24, "horizon": 4}


class Wrapper(nn.Module):  # a task model's shape: something around a backbone
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net


def _which(old: torch.Tensor, new: torch.Tensor, gates: int) -> list[int]:
    """The old unit behind each row of a pruned (gates * keep, in) matrix: matched by its first gate's row."""
    H, keep = old.shape[0] // gates, new.shape[0] // gates
    return [int((old[:H, : new.shape[1]] - new[i]).abs().sum(1).argmin()) for i in range(keep)]


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_a_pruned_stack_is_the_old_one_with_the_removed_units_silenced(name: str) -> None:
    torch.manual_seed(0)
    cls = get_model(name)
    old = cls(cls.Config(d_model=12, num_layers=2)).eval()
    model = Wrapper(cls(cls.Config(d_model=12, num_layers=2)))
    model.net.load_state_dict(old.state_dict())
    cfg, info = prune(model, 0.5)
    assert cfg.units == 6 and (info["from"], info["to"]) == (12, 6)
    assert count_params(model) == info["params_after"] < info["params_before"] == count_params(old)
    new, G = model.net.layers[0], old.gates
    first = _which(old.layers[0].weight_ih_l0.detach(), new.weight_ih_l0.detach(), G)
    assert len(set(first)) == 6
    silenced = old.state_dict()
    for j in set(range(12)) - set(first):  # nothing reads a removed layer-0 unit any more
        silenced["layers.0.weight_hh_l0"][:, j] = 0
        silenced["layers.0.weight_ih_l1"][:, j] = 0
    old.load_state_dict(silenced)
    w1 = old.layers[0].weight_ih_l1.detach()[:, first]  # layer 1 reads the kept layer-0 units only
    second = _which(w1, new.weight_ih_l1.detach(), G)
    for j in set(range(12)) - set(second):
        silenced["layers.0.weight_hh_l1"][:, j] = 0
    old.load_state_dict(silenced)
    x = torch.randn(2, 9, 12)
    with torch.no_grad():
        y_old, y_new = old(x)[0], model.net.eval()(x)[0]  # (B, T, D)
    removed = sorted(set(range(12)) - set(second))
    torch.testing.assert_close(y_new[..., second], y_old[..., second], rtol=1e-5, atol=1e-5)
    assert torch.equal(y_new[..., removed], torch.zeros_like(y_new[..., removed]))


@pytest.mark.parametrize("name", ["transformer", "memory_transformer"])
def test_pruned_feed_forward_layers_are_the_old_ones_without_those_units(name: str) -> None:
    torch.manual_seed(0)
    cls = get_model(name)
    old = cls(cls.Config(d_model=16, num_layers=2, num_heads=2, d_ff=32)).eval()
    model = Wrapper(cls(cls.Config(d_model=16, num_layers=2, num_heads=2, d_ff=32)))
    model.net.load_state_dict(old.state_dict())
    cfg, info = prune(model, 0.25)
    assert cfg.d_ff == 24 and info["params_after"] == info["params_before"] - 2 * 8 * (16 + 16 + 1)
    silenced = old.state_dict()
    for b, block in enumerate(model.net.blocks):
        first = block.mlp[0].weight.detach()  # (24, D) kept rows
        rows = [int((silenced[f"blocks.{b}.mlp.0.weight"] - r).abs().sum(1).argmin()) for r in first]
        for j in set(range(32)) - set(rows):  # GELU(0) = 0: a unit with no input weights adds nothing
            silenced[f"blocks.{b}.mlp.0.weight"][j] = 0
            silenced[f"blocks.{b}.mlp.0.bias"][j] = 0
    old.load_state_dict(silenced)
    x = torch.randn(2, 11, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.net.eval()(x)[0], old(x)[0], rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "run"
    model = {"name": "lstm", "d_model": 32}
    train({"task": TASK, "model": model, "train": {"max_epochs": 6, "progress": False}}, out, **QUIET)
    return out


def test_a_pruned_run_fine_tunes_the_smaller_model_and_loads_as_it(base: Path, tmp_path: Path) -> None:
    model = {"name": "lstm", "d_model": 32}
    tr = {"init": str(base), "prune": 0.75, "progress": False}
    cut = train({"task": TASK, "model": model, "train": {**tr, "max_steps": 1, "lr": 1e-12, "warmup_steps": 0}},
                tmp_path / "cut", **QUIET)  # fmt: skip
    tuned = train({"task": TASK, "model": model, "train": {**tr, "max_epochs": 4}}, tmp_path / "tuned", **QUIET)
    info = json.loads((tmp_path / "tuned" / "run.json").read_text())
    assert info["prune"]["to"] == 8 and info["params"] == info["prune"]["params_after"]
    assert info["params"] < json.loads((base / "run.json").read_text())["params"] / 3
    assert yaml.safe_load((tmp_path / "tuned" / "config.yaml").read_text())["model"]["units"] == 8
    assert load(tmp_path / "tuned").model.net.hidden == 8
    assert evaluate(tmp_path / "tuned", "test")["mse"] == pytest.approx(tuned.results["test"]["mse"], rel=1e-5)
    assert tuned.results["val"]["loss"] < cut.results["val"]["loss"]  # fine-tuning recovers part of the cut


def test_what_cannot_be_pruned_is_refused_before_anything_is_written(base: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give train.init=RUN_DIR"):
        train({"task": TASK, "model": {"name": "lstm"}, "train": {"prune": 0.5}}, tmp_path / "a", **QUIET)
    tcn = tmp_path / "tcn"
    train({"task": TASK, "model": {"name": "tcn", "d_model": 8}, "train": {"max_steps": 1, "progress": False}}, tcn,
          **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="no units train.prune can remove"):
        train({"task": TASK, "model": {"name": "tcn", "d_model": 8}, "train": {"init": str(tcn), "prune": 0.5}},
              tmp_path / "b", **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="train.prune"):
        train({"task": TASK, "model": {"name": "lstm"}, "train": {"prune": 1.0}}, tmp_path / "c", **QUIET)
    with pytest.raises(ConfigError, match="model.units needs a plain stack"):
        train({"task": TASK, "model": {"name": "gru", "units": 4, "residual": True}}, tmp_path / "d", **QUIET)
    assert not any((tmp_path / d).exists() for d in "abcd")
