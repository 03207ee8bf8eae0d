"""Published figures reproduced through seqarena (ANCHORS.md): ETTh1, lookback 96, horizon 96, features M."""

from __future__ import annotations

import pytest

import seqarena

ETTH1 = {"task": {"data": "ETTh1", "lookback": 96, "horizon": 96, "features": "M"}, "train": {"progress": False}}


def run(model: str, tmp_path, **model_cfg) -> dict:
    cfg = {**ETTH1, "model": {"name": model, **model_cfg}}
    return seqarena.train(cfg, tmp_path / model, log=lambda _: None).results["test"]


def test_linear_reproduces_the_published_dlinear_mse(data_dir, tmp_path) -> None:
    mse = run("linear", tmp_path)["mse"]
    assert abs(mse - 0.386) <= 0.01, f"DLinear ETTh1-96 test MSE {mse:.4f}, published 0.386"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "transformer"])
def test_core_models_beat_the_last_value_baseline_on_etth1(data_dir, tmp_path, model: str) -> None:
    baseline = run("last_value", tmp_path)["mse"]
    mse = run(model, tmp_path)["mse"]
    assert mse < baseline, f"{model}: {mse:.3f} vs last value {baseline:.3f}"
