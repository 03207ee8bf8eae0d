"""Irregular time: GRU-D's decays, step-by-step with gaps and masks, and the forecasting path for uneven timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import seqarena
from seqarena.errors import DataError
from seqarena.models.grud import GRUD, GRUDConfig
from seqarena.run import load
from seqarena.tasks.forecast_predict import predict_frame

QUIET = {"log": lambda _: None}


def test_grud_stepping_with_gaps_and_a_mask_equals_the_whole_window() -> None:
    torch.manual_seed(0)
    model = GRUD(GRUDConfig(d_model=8, num_layers=2, masked=True)).eval()
    x, dt = torch.randn(3, 20, 8), torch.rand(3, 20) * 4
    mask = (torch.rand(3, 20, 8) > 0.5).float()
    with torch.no_grad():
        full, _ = model(x, dt=dt, mask=mask)
        state, pieces = model.init_state(3), []
        for lo, hi in ((0, 7), (7, 8), (8, 9), (9, 20)):
            y, state = model(x[:, lo:hi], state, dt=dt[:, lo:hi], mask=mask[:, lo:hi])
            pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


def test_grud_missing_inputs_decay_from_the_last_observation_to_the_mean() -> None:
    layer = GRUD(GRUDConfig(d_model=1, masked=True)).layers[0]
    x = torch.tensor([[[2.0], [9.0], [9.0], [5.0]]])  # (1, 4, 1); steps 1 and 2 are missing
    mask = torch.tensor([[[1.0], [0.0], [0.0], [1.0]]])
    dt = torch.tensor([[1.0, 1.0, 3.0, 1.0]])
    with torch.no_grad():
        layer.decay_x.fill_(0.5)
        layer.decay_x_bias.zero_()
        layer.mean.fill_(-1.0)
        zero = torch.zeros(1, 1)
        x_hat, delta, last, since = layer.inputs(x, dt, mask, zero, zero)
    assert delta[0, :, 0].tolist() == [1.0, 1.0, 4.0, 5.0]  # time since the feature was last seen
    g1, g2 = np.exp(-0.5), np.exp(-2.0)
    expected = [2.0, g1 * 2 + (1 - g1) * -1, g2 * 2 + (1 - g2) * -1, 5.0]
    assert x_hat[0, :, 0].tolist() == pytest.approx(expected, rel=1e-6)
    assert last.item() == 5.0 and since.item() == 0.0
    with pytest.raises(seqarena.errors.ConfigError, match="masked=true"):
        GRUD(GRUDConfig(d_model=4))(torch.randn(1, 3, 4), mask=torch.ones(1, 3, 4))


IRREGULAR = {
    "task": {
        "data": "synthetic",
        "data_args": {"length": 1500, "channels": 2, "irregular": 0.5, "noise": 0.05},
        "lookback": 48,
        "horizon": 4,
    },
    "train": {"max_epochs": 6, "batch_size": 16, "lr": 1e-2, "progress": False, "threads": 1, "patience": None},
    "eval": {"batch_size": 64},
}


def irregular(model: dict, **task: object) -> dict:
    cfg = json.loads(json.dumps(IRREGULAR))
    cfg["model"] = model
    cfg["task"].update(task)
    return cfg


def test_uneven_timestamps_feed_the_gaps_and_grud_learns(tmp_path: Path) -> None:
    # The next observations come after gaps nobody knows yet, so no model gets near zero error here; on this
    # series GRU-D and a GRU that reads the gap as a feature both get well under the last-value baseline.
    naive = seqarena.train(irregular({"name": "last_value"}), tmp_path / "naive", **QUIET).results["test"]["mse"]
    run = seqarena.train(irregular({"name": "grud", "d_model": 32}), tmp_path / "grud", **QUIET)
    assert run.config.task.gaps == "on"  # detected: the timestamps are uneven
    assert run.results["test"]["mse"] < 0.6 * naive
    art = json.loads((tmp_path / "grud" / "task.json").read_text())
    assert art["gap_unit_seconds"] == pytest.approx(3600, rel=0.2)
    gru = seqarena.train(irregular({"name": "gru", "d_model": 32}), tmp_path / "gru", **QUIET)
    assert gru.results["test"]["mse"] < 0.6 * naive  # other backbones take the gap as one more input feature
    off = seqarena.train(irregular({"name": "linear"}, gaps="off"), tmp_path / "off", **QUIET)
    assert off.config.task.gaps == "off"
    regular = seqarena.train(irregular({"name": "linear"}, data_args={"length": 600}), tmp_path / "reg", **QUIET)
    assert regular.config.task.gaps == "off"  # hourly: nothing to feed


def test_predict_on_an_uneven_csv_uses_its_timestamps(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hours = np.cumsum(rng.lognormal(0, 0.8, 700))
    frame = pd.DataFrame(
        {
            "time": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.round(hours * 3600), unit="s"),
            "load": np.sin(2 * np.pi * hours / 24) + 0.05 * rng.standard_normal(700),
        }
    )
    path = tmp_path / "uneven.csv"
    frame.to_csv(path, index=False)
    cfg = {
        "task": {"data": str(path), "lookback": 24, "horizon": 3},
        "model": {"name": "grud", "d_model": 16},
        "train": {"max_epochs": 2, "progress": False, "threads": 1},
    }
    seqarena.train(cfg, tmp_path / "run", **QUIET)
    run = load(tmp_path / "run")
    assert run.config.task.gaps == "on"
    forecast = predict_frame(run.model, run.artifacts, run.config.task, frame.tail(30), "tail.csv")
    assert len(forecast) == 3 and np.isfinite(forecast["load"]).all()
    assert (forecast["date"].diff().dropna() > pd.Timedelta(0)).all()
    assert forecast["date"].iloc[0] > frame["time"].iloc[-1]
    with pytest.raises(DataError, match="gaps between timestamps"):
        predict_frame(run.model, run.artifacts, run.config.task, frame.tail(30).drop(columns=["time"]), "notime.csv")


def test_gaps_need_increasing_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame({"time": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"] * 40), "v": range(120)})
    path = tmp_path / "unsorted.csv"
    frame.to_csv(path, index=False)
    cfg = {"task": {"data": str(path), "lookback": 8, "horizon": 2}, "model": {"name": "linear"}}
    with pytest.raises(DataError, match="does not increase at row 4"):
        seqarena.train(cfg, tmp_path / "run", **QUIET)


def test_ode_rnn_steps_with_gaps_as_it_reads_the_window_and_a_zero_gap_leaves_the_flow_still() -> None:
    from seqarena.models.ode_rnn import ODERNN, ODERNNConfig

    torch.manual_seed(0)
    model = ODERNN(ODERNNConfig(d_model=8, num_layers=2)).eval()
    x, dt = torch.randn(3, 12, 8), torch.rand(3, 12) * 4
    with torch.no_grad():
        full, _ = model(x, dt=dt)
        state, pieces = model.init_state(3), []
        for lo, hi in ((0, 5), (5, 6), (6, 12)):
            y, state = model(x[:, lo:hi], state, dt=dt[:, lo:hi])
            pieces.append(y)
        torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)
        layer, h = model.layers[0], torch.randn(3, 8)
        assert torch.equal(layer.evolve(h, torch.zeros(3)), h)
        assert not torch.allclose(layer.evolve(h, torch.full((3,), 5.0)), h)


def test_ode_rnn_learns_the_irregular_series_beside_grud(tmp_path: Path) -> None:
    naive = seqarena.train(irregular({"name": "last_value"}), tmp_path / "naive", **QUIET).results["test"]["mse"]
    run = seqarena.train(irregular({"name": "ode_rnn", "d_model": 32}), tmp_path / "ode", **QUIET)
    assert run.config.task.gaps == "on" and run.results["test"]["mse"] < 0.6 * naive
