"""Warm start (train.init) and progressive unfreezing (train.unfreeze): weights carried over by name and shape,
frozen groups that really stay put until their epoch, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqarena.errors import ConfigError
from seqarena.run import evaluate, train

QUIET = {"log": lambda _: None}
TASK = {"name": "forecast", "data": "co2", "lookback": 24, "horizon": 4}
MODEL = {"name": "gru", "d_model": 8}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "run"
    train({"task": TASK, "model": MODEL, "train": {"max_epochs": 2, "progress": False}}, out, **QUIET)
    return out


def test_a_warm_start_begins_from_the_other_runs_weights(base: Path, tmp_path: Path) -> None:
    tr = {"max_epochs": 1, "lr": 1e-12, "warmup_steps": 0, "progress": False, "init": str(base)}
    run = train({"task": TASK, "model": MODEL, "train": tr}, tmp_path / "warm", **QUIET)  # a step too small to move
    before, after = load_file(base / "model.safetensors"), load_file(tmp_path / "warm" / "model.safetensors")
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    info = json.loads((tmp_path / "warm" / "run.json").read_text())["init"]
    assert info["loaded"] == len(before) and info["left_fresh"] == []
    assert run.results["test"]["mse"] == pytest.approx(evaluate(base, "test")["mse"], rel=1e-4)


def test_frozen_groups_stay_put_until_their_epoch(base: Path, tmp_path: Path) -> None:
    tr = {"max_epochs": 2, "lr": 1e-2, "progress": False, "init": str(base), "unfreeze": ["net"], "unfreeze_every": 2}
    train({"task": TASK, "model": MODEL, "train": tr}, tmp_path / "frozen", **QUIET)
    before, after = load_file(base / "model.safetensors"), load_file(tmp_path / "frozen" / "model.safetensors")
    net = [k for k in before if k.startswith("net.")]
    assert net and all(torch.equal(before[k], after[k]) for k in net)  # thaws at epoch 3, after the run
    assert any(not torch.equal(before[k], after[k]) for k in before if not k.startswith("net."))  # the rest trained
    tr |= {"max_epochs": 3, "unfreeze_every": 1}
    logs: list[str] = []
    train({"task": TASK, "model": MODEL, "train": tr}, tmp_path / "thawed", log=logs.append)
    thawed = load_file(tmp_path / "thawed" / "model.safetensors")
    assert any(not torch.equal(before[k], thawed[k]) for k in net) and "epoch 2: unfreezing net" in logs


def test_recipe_refusals_come_before_anything_is_written(base: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="its weights fit only"):
        train({"task": TASK, "model": {"name": "lstm", "d_model": 16}, "train": {"init": str(base)}},
              tmp_path / "a", **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="train.unfreeze prefix 'decoder' matches no parameter"):
        train({"task": TASK, "model": MODEL, "train": {"unfreeze": ["decoder"]}}, tmp_path / "b", **QUIET)
    with pytest.raises(ConfigError, match="train.unfreeze_every"):
        train({"task": TASK, "model": MODEL, "train": {"unfreeze_every": 3}}, tmp_path / "c", **QUIET)
    assert not any((tmp_path / d).exists() for d in "abc")
