"""Covariates: future-known columns read over the horizon (and the forecast improves when the target depends on
them), calendar features derived from the time column, static columns per series, and their bad-input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqarena
from seqarena.data import calendar
from seqarena.errors import SeqarenaError

QUIET = {"log": lambda _: None}
TRAIN = {"train": {"max_epochs": 8, "progress": False, "threads": 1, "seed": 0}}
HORIZON = 6


def promo_frame(n: int = 1200) -> pd.DataFrame:
    """Hourly sales driven by a promotion known ahead: y = daily cycle + 2 * promo + noise."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=n, freq="h")
    promo = rng.normal(size=n)
    y = 0.5 * np.sin(2 * np.pi * ds.hour / 24) + 2 * promo + rng.normal(0, 0.1, n)
    return pd.DataFrame({"ds": ds, "promo": promo, "y": y})


@pytest.fixture(scope="module")
def promo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, seqarena.RunResult]:
    frame = promo_frame().iloc[:-HORIZON]
    root = tmp_path_factory.mktemp("covariates")
    common = {"horizon": HORIZON, "lookback": 24, "config": TRAIN, "features": "MS", **QUIET}
    return {
        "past": seqarena.fit(frame, "linear", out=root / "past", **common),
        "future": seqarena.fit(frame, "linear", out=root / "future", future_columns=["promo"], **common),
    }


def test_future_known_columns_are_read_over_the_horizon(promo_runs: dict[str, seqarena.RunResult]) -> None:
    past, future = (promo_runs[k].results["test"]["mse"] for k in ("past", "future"))
    assert future < 0.3 * past, (past, future)  # the promotion explains most of the variance only when known ahead


def test_predict_takes_the_future_table_and_load_gives_the_same(promo_runs: dict[str, seqarena.RunResult]) -> None:
    full = promo_frame()
    history, ahead = full.iloc[:-HORIZON], full.iloc[-HORIZON:]
    run = promo_runs["future"]
    forecast = run.predict(history, future=ahead[["ds", "promo"]])
    assert forecast["date"].tolist() == ahead["ds"].tolist()
    error = np.abs(forecast["y"].to_numpy() - ahead["y"].to_numpy()).mean()
    assert error < 0.6, error  # the promotion's effect (|2 * promo| ~ 1.6 on average) is in the forecast
    shuffled = ahead[["ds", "promo"]].sample(frac=1.0, random_state=0)  # rows are matched by time, not order
    again = seqarena.load(run.run_dir).predict(history, future=shuffled)
    pd.testing.assert_frame_equal(forecast, again)


def test_missing_future_covariates_are_one_line_errors(promo_runs: dict[str, seqarena.RunResult]) -> None:
    full = promo_frame()
    history, ahead = full.iloc[:-HORIZON], full.iloc[-HORIZON:]
    run = seqarena.load(promo_runs["future"].run_dir)
    for bad in (None, ahead[["ds"]], ahead[["ds", "promo"]].iloc[:3]):
        with pytest.raises(SeqarenaError, match="future covariates missing from the predict input") as err:
            run.predict(history, future=bad)
        assert "\n" not in str(err.value)


def test_calendar_features_are_sines_and_cosines_of_the_time() -> None:
    ds = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-06 18:00"])
    values = calendar.values(["hour", "dayofweek"], ds)  # (3, 4)
    np.testing.assert_allclose(values[:, 0], np.sin(2 * np.pi * np.array([0, 6, 18]) / 24), atol=1e-12)
    np.testing.assert_allclose(values[:, 1], np.cos(2 * np.pi * np.array([0, 6, 18]) / 24), atol=1e-12)
    np.testing.assert_allclose(values[2, 2], np.sin(2 * np.pi * (5 + 0.75) / 7), atol=1e-12)  # Saturday 18:00
    assert calendar.names(["hour"]) == ["cal_hour_sin", "cal_hour_cos"]
    assert calendar.auto_features(pd.Timedelta(hours=1)) == ["hour", "dayofweek"]
    assert calendar.auto_features(pd.Timedelta(days=30)) == ["month"]


def test_calendar_auto_is_resolved_and_predicted_ahead(tmp_path: Path) -> None:
    frame = promo_frame(600)[["ds", "y"]]
    run = seqarena.fit(frame, "gru", horizon=HORIZON, lookback=24, out=tmp_path / "run", calendar=["auto"],
                       config={**TRAIN, "model": {"d_model": 8}, "train": {**TRAIN["train"], "max_epochs": 1}},
                       **QUIET)  # fmt: skip
    assert run.config.task.calendar == ["hour", "dayofweek"]  # the resolved setting is what config.yaml keeps
    assert run.task.in_columns == ["y", *calendar.names(["hour", "dayofweek"])]
    assert run.task.out_columns == ["y"]
    forecast = run.predict(frame)  # calendar features need no future table: they follow from the timestamps
    assert len(forecast) == HORIZON and np.isfinite(forecast["y"]).all()
    with pytest.raises(SeqarenaError, match="no time column"):
        run.predict(frame[["y"]])


def shops(n: int = 200) -> pd.DataFrame:
    """Three shops in long format; a shop's size (static) sets its level."""
    rng = np.random.default_rng(1)
    parts = []
    for i, size in enumerate((1.0, 2.0, 4.0)):
        ds = pd.date_range("2024-01-01", periods=n, freq="h")
        y = size * (3 + np.sin(2 * np.pi * np.arange(n) / 24)) + rng.normal(0, 0.1, n)
        parts.append(pd.DataFrame({"unique_id": f"shop{i}", "ds": ds, "size": size, "y": y}))
    return pd.concat(parts, ignore_index=True)


def test_static_columns_hold_one_value_per_series(tmp_path: Path) -> None:
    frame = shops()
    config = {**TRAIN, "model": {"d_model": 8}}
    run = seqarena.fit(frame, "lstm", horizon=HORIZON, lookback=24, out=tmp_path / "run",
                       static_columns=["size"], config=config, **QUIET)  # fmt: skip
    assert run.task.in_columns == ["y"]  # the static column is not a time-varying input
    saved = seqarena.load(run.run_dir)
    assert saved.artifacts["static"]["values"] == {"shop0": [1.0], "shop1": [2.0], "shop2": [4.0]}
    forecast = saved.predict(frame)
    assert forecast["unique_id"].unique().tolist() == ["shop0", "shop1", "shop2"]
    weights = dict(saved.model.named_parameters())["static_proj.weight"]
    assert weights.abs().sum() > 0  # trained away from its neutral start
    with pytest.raises(SeqarenaError, match="static column 'size' is not one value"):
        changing = frame.assign(size=np.arange(len(frame), dtype=float))
        seqarena.fit(changing, "lstm", horizon=HORIZON, lookback=24, out=tmp_path / "bad", static_columns=["size"],
                     config=config, **QUIET)  # fmt: skip
    assert not (tmp_path / "bad").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"future_columns": ["y"]}, "holds the target"),
        ({"future_columns": ["price"]}, "are not columns of"),
        ({"calendar": ["hours"]}, "choose features from"),
        ({"static_columns": ["promo"]}, "describe each of many series"),
    ],
)
def test_bad_covariate_settings_are_one_line_errors(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(SeqarenaError, match=message) as err:
        seqarena.fit(promo_frame(300), "linear", horizon=HORIZON, lookback=24, out=tmp_path / "run", config=TRAIN,
                     **options, **QUIET)  # fmt: skip
    assert "\n" not in str(err.value)


def test_the_cli_predicts_with_a_future_table(promo_runs: dict[str, seqarena.RunResult], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqarena.cli import app

    full = promo_frame()
    full.iloc[:-HORIZON].to_csv(tmp_path / "history.csv", index=False)
    full.iloc[-HORIZON:][["ds", "promo"]].to_csv(tmp_path / "future.csv", index=False)
    run_dir = str(promo_runs["future"].run_dir)
    done = CliRunner().invoke(app, ["predict", run_dir, "--input", str(tmp_path / "history.csv"), "--future",
                                    str(tmp_path / "future.csv"), "--output", str(tmp_path / "out.csv")])  # fmt: skip
    assert done.exit_code == 0, done.output
    expected = promo_runs["future"].predict(full.iloc[:-HORIZON], future=full.iloc[-HORIZON:][["ds", "promo"]])
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")["y"], expected["y"], rtol=1e-5)


def test_many_series_take_their_future_rows_by_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = shops().assign(promo=lambda f: rng.normal(size=len(f)))
    history = frame.groupby("unique_id").head(190)
    ahead = frame.groupby("unique_id").tail(10).groupby("unique_id").head(HORIZON)[["unique_id", "ds", "promo"]]
    run = seqarena.fit(history.drop(columns="size"), "linear", horizon=HORIZON, lookback=24, out=tmp_path / "run",
                       features="MS", future_columns=["promo"], config=TRAIN, **QUIET)  # fmt: skip
    forecast = run.predict(history.drop(columns="size"), future=ahead.iloc[::-1])  # any row order
    assert forecast["unique_id"].tolist() == [f"shop{i}" for i in range(3) for _ in range(HORIZON)]
    assert forecast["ds"].tolist() == ahead["ds"].tolist()
    with pytest.raises(SeqarenaError, match="future table has no 'unique_id'"):
        run.predict(history.drop(columns="size"), future=ahead.drop(columns="unique_id"))
    with pytest.raises(SeqarenaError, match="has 0 future rows of 6"):
        run.predict(history.drop(columns="size"), future=ahead[ahead.unique_id != "shop1"])
