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


def test_the_length_curriculum_grows_the_sequences_to_full_length(tmp_path: Path) -> None:
    from seqarena.config import TrainConfig
    from seqarena.tasks.lm import LMTask
    from seqarena.training.recipes import curriculum

    cfg = TrainConfig(length_warmup=100, length_start=8)
    batch = (torch.zeros(4, 128, dtype=torch.long), torch.ones(4, 128, dtype=torch.long))
    task = LMTask.__new__(LMTask)  # shorten and sequence_length need no data
    lengths = [curriculum(task, batch, cfg, step)[1].shape[1] for step in (0, 50, 99, 100, 5000)]
    assert lengths == [8, 68, 126, 128, 128]

    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat.\nthe dog sat on the log.\n" * 300)
    tr = {"max_epochs": 2, "batch_size": 16, "lr": 1e-2, "progress": False, "length_warmup": 30, "length_start": 4}
    run = train({"task": {"name": "lm", "data": str(corpus), "block_size": 32, "batching": "blocks"},
                 "model": {"name": "gru", "d_model": 32}, "train": tr}, tmp_path / "lm", **QUIET)  # fmt: skip
    assert json.loads((tmp_path / "lm" / "run.json").read_text())["length_warmup"] == {"steps": 30, "start": 4}
    assert run.results["test"]["ppl"] < 0.5 * run.results["test"]["unigram_ppl"], run.results["test"]
    with pytest.raises(ConfigError, match="length_warmup=5: task 'forecast' has no length curriculum"):
        train({"task": TASK, "model": MODEL, "train": {"length_warmup": 5}}, tmp_path / "f", **QUIET)
    with pytest.raises(ConfigError, match="set task.batching=blocks"):
        train({"task": {"name": "lm", "data": str(corpus), "batching": "stream"}, "model": {"name": "gru"},
               "train": {"length_warmup": 5}}, tmp_path / "s", **QUIET)  # fmt: skip
    assert not (tmp_path / "f").exists() and not (tmp_path / "s").exists()


def test_the_cell_state_penalty_keeps_lstm_cells_small(tmp_path: Path) -> None:
    from seqarena.training.recipes import penalty

    def cell_size(model_opts: dict, out: Path) -> tuple[float, float]:
        tr = {"max_epochs": 3, "lr": 1e-2, "progress": False, "seed": 0}
        run = train({"task": TASK, "model": {"name": "peephole_lstm", "d_model": 8, **model_opts}, "train": tr},
                    out, **QUIET)  # fmt: skip
        net = run.model.net
        x = torch.randn(16, 24, 8, generator=torch.Generator().manual_seed(0))
        cells: list = []
        with torch.no_grad():
            net.layers[0](x, torch.zeros(16, 8), torch.zeros(16, 8), cells)
        return float(torch.stack(cells).mean()), run.results["test"]["mse"]

    free, free_mse = cell_size({}, tmp_path / "free")
    held, held_mse = cell_size({"cell_l2": 0.1}, tmp_path / "held")
    assert held < 0.5 * free and held_mse < 2 * free_mse, (free, held, free_mse, held_mse)
    run_json = json.loads((tmp_path / "held" / "run.json").read_text())
    assert "autograd" in json.dumps(run_json["kernels"])  # the C++ loop does not expose the cell states

    model = torch.nn.Linear(2, 2)
    assert penalty(model) is None
    model.penalty = torch.tensor(0.5)
    assert float(penalty(model)) == 0.5 and penalty(model) is None  # collected once


def test_layer_wise_growth_warm_starts_the_shared_layers(base: Path, tmp_path: Path) -> None:
    tr = {"max_epochs": 1, "lr": 1e-12, "warmup_steps": 0, "progress": False, "init": str(base)}
    deeper = {**MODEL, "num_layers": 3}
    train({"task": TASK, "model": deeper, "train": tr}, tmp_path / "deep", **QUIET)
    info = json.loads((tmp_path / "deep" / "run.json").read_text())["init"]
    assert sorted({n.rsplit("_", 1)[1] for n in info["left_fresh"]}) == ["l2"]  # only the new top layer is fresh
    before, after = load_file(base / "model.safetensors"), load_file(tmp_path / "deep" / "model.safetensors")
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # the 2 shared layers are copied
