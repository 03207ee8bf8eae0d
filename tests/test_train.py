from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import seqarena
from seqarena.config import TrainConfig
from seqarena.errors import ConfigError
from seqarena.training.optim import build_optimizer, lr_factor
from seqarena.training.precision import resolve_precision

TINY = {
    "task": {"data": "synthetic", "data_args": {"length": 1200, "channels": 2}, "lookback": 48, "horizon": 12},
    "train": {"max_epochs": 6, "batch_size": 16, "lr": 1e-2, "progress": False, "threads": 1, "patience": None},
    "eval": {"batch_size": 64},
}


def tiny(model: str, **extra: dict) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg["model"] = {"name": model, **({"d_model": 32} if model not in ("linear", "last_value") else {})}
    for section, values in extra.items():
        cfg[section].update(values)
    return cfg


@pytest.fixture(scope="module")
def baseline_mse(tmp_path_factory) -> float:
    out = tmp_path_factory.mktemp("runs") / "last"
    return seqarena.train(tiny("last_value"), out, log=lambda _: None).results["test"]["mse"]


@pytest.mark.parametrize(
    "model",
    [
        "rnn",
        "lstm",
        "gru",
        "transformer",
        "linear",
        "local_attention",
        "linear_attention",
        "tcn",
        "s4d",
        "hybrid",
        "lstm_attention",
        "lstm_gru",
        "mamba",
        "peephole_lstm",
        "layernorm_lstm",
        "grud",
    ],
)
def test_every_core_model_learns_well_below_last_value(model: str, tmp_path, baseline_mse: float) -> None:
    result = seqarena.train(tiny(model), tmp_path / model, log=lambda _: None)
    mse = result.results["test"]["mse"]
    assert mse < 0.5 * baseline_mse, f"{model}: test MSE {mse:.3f} vs last value {baseline_mse:.3f}"
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_run_directory_contract_and_no_pickles(tmp_path) -> None:
    run = tmp_path / "run"
    seqarena.train(tiny("gru"), run, log=lambda _: None)
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "run.json", "model.safetensors", "task.json", "metrics.jsonl", "results.json"} <= names
    suffixes = {p.suffix for p in run.rglob("*") if p.is_file()}
    assert suffixes <= {".yaml", ".json", ".jsonl", ".safetensors"}
    info = json.loads((run / "run.json").read_text())
    assert info["seed"] == 0 and info["environment"]["threads"] == 1 and info["data"]["values_sha256"]
    assert len(info["kernels"]) == 1 and info["kernels"][0].startswith("seqarena")  # the GRU's time loop
    speed = info["throughput"]  # FLOPs per sample and utilisation of the machine's measured GEMM peak
    assert speed["flops_per_sample"] > 0 and speed["peak_gflops"] > 0 and 0 < speed["mfu"] < 1
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 6 and {"train_loss", "val_loss", "lr", "seconds", "samples_per_s"} <= set(json.loads(lines[0]))
    loaded = seqarena.load(run)
    assert loaded.config.model.name == "gru"


def test_same_seed_same_numbers_and_best_weights_restored(tmp_path) -> None:
    cfg = tiny("lstm", train={"patience": 1, "lr": 2e-2})
    a = seqarena.train(cfg, tmp_path / "a", log=lambda _: None)
    b = seqarena.train(cfg, tmp_path / "b", log=lambda _: None)
    assert a.results == b.results
    best = min(h["val_loss"] for h in a.history)
    assert a.results["val"]["loss"] == pytest.approx(best, rel=1e-6)


def test_schedules() -> None:
    cfg = TrainConfig(schedule="cosine", warmup_steps=10)
    assert lr_factor(cfg, 0, 0, 110, 1.0) == pytest.approx(0.1)
    assert lr_factor(cfg, 10, 0, 110, 1.0) == pytest.approx(1.0)
    assert lr_factor(cfg, 60, 0, 110, 1.0) == pytest.approx(0.5)
    assert lr_factor(cfg, 110, 0, 110, 1.0) == pytest.approx(0.0, abs=1e-12)
    # a time budget: the cosine follows whichever of steps and time runs out first
    assert lr_factor(cfg, 20, 0, 110, 1.0, time_used=0.5) == pytest.approx(0.5)
    assert lr_factor(cfg, 60, 0, 110, 1.0, time_used=0.1) == pytest.approx(0.5)
    assert lr_factor(cfg, 20, 0, 110, 1.0, time_used=1.3) == pytest.approx(0.0, abs=1e-12)
    step = TrainConfig(schedule="step", gamma=0.1, step_epochs=2, warmup_steps=0)
    assert [lr_factor(step, 0, e, 100, 1.0) for e in (0, 1, 2, 4)] == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor(TrainConfig(schedule="plateau", warmup_steps=0), 5, 3, 100, 0.25) == 0.25


def test_layer_wise_learning_rates_and_decay_groups() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    opt = build_optimizer(model, TrainConfig(lr=1.0, weight_decay=0.1, lr_mult={"0": 0.1}))
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert by_param[id(model[0].weight)]["lr"] == pytest.approx(0.1)
    assert by_param[id(model[2].weight)]["lr"] == 1.0 and by_param[id(model[2].weight)]["weight_decay"] == 0.1
    assert by_param[id(model[1].weight)]["weight_decay"] == 0.0 and by_param[id(model[2].bias)]["weight_decay"] == 0
    with pytest.raises(ConfigError, match="matches no parameter"):
        build_optimizer(model, TrainConfig(lr_mult={"encoder": 0.5}))


def test_schedules_step_and_plateau_and_sgd_train(tmp_path) -> None:
    for i, extra in enumerate(
        (
            {"schedule": "step", "optimizer": "sgd", "lr": 0.05},
            {"schedule": "plateau"},
            {"grad_checkpointing": True, "warmup_steps": 20, "lr_mult": {"net": 0.5}},
        )
    ):
        result = seqarena.train(
            tiny("gru", train={**extra, "max_epochs": 2, "batch_size": 64}), tmp_path / str(i), log=lambda _: None
        )
        assert math.isfinite(result.results["test"]["mse"])


def test_bf16_is_refused_on_a_cpu_without_native_support(monkeypatch) -> None:
    monkeypatch.setattr("seqarena.training.precision.cpu_has_native_bf16", lambda: False)
    used, why = resolve_precision("bf16", torch.device("cpu"))
    assert used == "fp32" and "not run it natively" in why
    assert resolve_precision("auto", torch.device("cpu"))[0] == "fp32"


def test_resume_may_change_the_learning_rate_only_when_asked(tmp_path: Path) -> None:
    from seqarena.errors import SeqarenaError

    task = {"data": "synthetic", "data_args": {"length": 400}, "lookback": 24, "horizon": 6}
    cfg = {"task": task, "model": {"name": "gru", "d_model": 8}, "train": {"max_epochs": 2, "progress": False}}
    seqarena.train(cfg, tmp_path / "r", log=lambda _: None)
    (tmp_path / "r" / "results.json").unlink()  # as if killed after its last checkpoint
    more = {**cfg, "train": {**cfg["train"], "max_epochs": 3, "lr": 3e-4}}
    with pytest.raises(SeqarenaError, match="add --allow-change train.lr"):
        seqarena.train(more, tmp_path / "r", resume=True, allow_change=["train.max_epochs"])
    logs: list[str] = []
    result = seqarena.train(more, tmp_path / "r", resume=True, allow_change=["train.lr", "train.max_epochs"],
                            log=logs.append)  # fmt: skip
    assert any("resumed from the checkpoint after epoch 2" in line for line in logs)
    assert len(result.history) == 3 and result.history[-1]["lr"] <= 3e-4
    changes = json.loads((tmp_path / "r" / "run.json").read_text())["changes"]
    assert [(c["key"], c["from"], c["to"]) for c in changes] == [("train.max_epochs", 2, 3), ("train.lr", 1e-3, 3e-4)]
    with pytest.raises(SeqarenaError, match="may change only"):
        seqarena.train(more, tmp_path / "r2", resume=True, allow_change=["model.d_model"])
