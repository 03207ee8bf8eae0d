"""Forecasting as the ecosystem calls it: fit on a DataFrame (long format, many series), predict a DataFrame with
quantile columns, load and predict again; per-series metrics; the errors of bad long-format input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqarena
from seqarena.errors import SeqarenaError

QUIET = {"log": lambda _: None}
TRAIN = {"train": {"max_epochs": 6, "progress": False, "threads": 1, "seed": 0}}
TINY = {**TRAIN, "model": {"d_model": 16}}


def long_frame(lengths: tuple[int, ...] = (240, 200, 220), noise: float = 0.1) -> pd.DataFrame:
    """Hourly sine waves of different levels and amplitudes, one per id, rows shuffled (long tables need not be
    sorted)."""
    rng = np.random.default_rng(0)
    parts = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        y = (1 + i) * np.sin(2 * np.pi * t / 24) + 5 * i + rng.normal(0, noise, n)
        parts.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                   "y": y}))  # fmt: skip
    return pd.concat(parts).sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> seqarena.RunResult:
    out = tmp_path_factory.mktemp("panel") / "run"
    return seqarena.fit(long_frame(), "gru", horizon=12, lookback=48, out=out, distribution="quantile",
                        quantiles=[0.1, 0.5, 0.9], config=TINY, **QUIET)  # fmt: skip


def test_fit_predict_load_predict_on_a_long_frame(fitted: seqarena.RunResult) -> None:
    frame = long_frame()
    forecast = fitted.predict(frame)
    assert list(forecast.columns) == ["unique_id", "ds", "y", "y-lo-80", "y-hi-80"]
    assert forecast["unique_id"].tolist() == [f"s{i}" for i in range(3) for _ in range(12)]
    for sid, rows in forecast.groupby("unique_id"):
        last = frame.loc[frame["unique_id"] == sid, "ds"].max()
        assert rows["ds"].tolist() == list(pd.date_range(last + pd.Timedelta(hours=1), periods=12, freq="h"))
    assert (forecast["y-lo-80"] <= forecast["y"]).all() and (forecast["y"] <= forecast["y-hi-80"]).all()
    assert forecast.loc[forecast["unique_id"] == "s2", "y"].mean() > 7  # per-series scaling restores each level
    again = seqarena.load(fitted.run_dir).predict(frame)
    pd.testing.assert_frame_equal(forecast, again)
    only = seqarena.load(fitted.run_dir).predict(frame, ids=["s1"])
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), forecast[forecast.unique_id == "s1"].reset_index(drop=True)
    )


def test_metrics_per_series_pool_to_the_aggregate(fitted: seqarena.RunResult) -> None:
    test = fitted.results["test"]
    per = test["series"]
    assert set(per) == {"s0", "s1", "s2"}
    windows = sum(m["windows"] for m in per.values())
    assert windows == test["windows"]
    pooled = sum(m["mse"] * m["windows"] for m in per.values()) / windows
    assert test["mse"] == pytest.approx(pooled, rel=1e-9)
    assert test["mse"] < 0.5 * test["last_value_mse"]  # it learnt the waves
    assert 0.4 <= test["coverage_80"] <= 1.0 and test["crps"] > 0
    assert (Path(fitted.run_dir) / "data.csv").is_file()
    assert fitted.config.task.data == str((Path(fitted.run_dir) / "data.csv").resolve())


def test_evaluate_a_fitted_run_again_from_its_own_files(fitted: seqarena.RunResult) -> None:
    again = seqarena.evaluate(fitted.run_dir, "test")
    assert again["mse"] == pytest.approx(fitted.results["test"]["mse"], rel=1e-9)
    assert again["crps"] == pytest.approx(fitted.results["test"]["crps"], rel=1e-9)


def test_a_point_model_on_an_array_gets_conformal_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = np.sin(2 * np.pi * np.arange(400) / 20) + rng.normal(0, 0.2, 400)
    run = seqarena.fit(y, "linear", horizon=10, lookback=40, out=tmp_path / "run", config=TRAIN, **QUIET)
    test = run.results["test"]
    assert 0.6 <= test["coverage_80"] <= 0.97 and test["coverage_50"] < test["coverage_80"] < test["coverage_90"]
    plain = run.predict(y)
    assert list(plain.columns) == ["y"] and len(plain) == 10
    with_intervals = run.predict(y, intervals=True)
    assert {"y-lo-80", "y-hi-80", "y-lo-90", "y-hi-90"} <= set(with_intervals.columns)
    np.testing.assert_array_equal(with_intervals["y"], plain["y"])
    with pytest.raises(SeqarenaError, match="non-numeric column"):  # a one-series model given many series
        run.predict(long_frame())


def test_a_long_parquet_file_trains_like_the_frame(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "panel.parquet"
    long_frame().to_parquet(path)
    cfg = {"task": {"name": "forecast", "data": str(path), "horizon": 12, "lookback": 48},
           "model": {"name": "linear"}, "train": TRAIN["train"]}  # fmt: skip
    run = seqarena.train(cfg, tmp_path / "run", **QUIET)
    assert set(run.results["test"]["series"]) == {"s0", "s1", "s2"}


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda f: f[~((f.unique_id == "s1") & (f.ds > f.ds.min() + pd.Timedelta(hours=60)))], {}, "series 's1'"),
        (lambda f: f.drop(columns=["ds"]), {}, "no time column"),
        (
            lambda f: f[~((f.unique_id == "s0") & (f.ds == f.ds.min() + pd.Timedelta(hours=100)))],
            {},
            "uneven timestamps",
        ),
        (lambda f: f, {"quantiles": [0.1, 1.2]}, "strictly between 0 and 1"),
        (lambda f: f, {"quantiles": [0.1, 0.9], "distribution": "quantile"}, "lacks 0.5"),
        (lambda f: f.assign(unique_id=None), {}, "is empty at row 2"),
    ],
)
def test_bad_long_input_is_one_line(tmp_path: Path, change, options: dict, message: str) -> None:
    with pytest.raises(SeqarenaError, match=message) as err:
        seqarena.fit(change(long_frame()), "linear", horizon=12, lookback=48, out=tmp_path / "run", config=TRAIN,
                     **options, **QUIET)  # fmt: skip
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_predict_refuses_an_unknown_series_and_a_wide_table(fitted: seqarena.RunResult) -> None:
    frame = long_frame()
    with pytest.raises(SeqarenaError, match="was not in the training data"):
        fitted.predict(frame.assign(unique_id=frame.unique_id.replace("s0", "zz")))
    with pytest.raises(SeqarenaError, match="no id column 'unique_id'"):
        fitted.predict(frame.drop(columns=["unique_id"]))
    with pytest.raises(SeqarenaError, match="unknown option 'horizn'"):
        seqarena.fit(frame, horizn=3)


def test_rolling_statistics_are_inputs_only_and_predict_derives_them(tmp_path: Path) -> None:
    frame = long_frame()
    task = {"rolling_windows": [6, 24], "rolling_stats": ["mean", "std"], "eval_stride": 5}
    run = seqarena.fit(frame, "linear", horizon=12, lookback=48, out=tmp_path / "run", config={**TRAIN, "task": task},
                       **QUIET)  # fmt: skip
    assert run.task.in_columns == ["y", "y_mean6", "y_std6", "y_mean24", "y_std24"] and run.task.out_columns == ["y"]
    assert run.results["test"]["windows"] == sum(-(-(len(p.windows["test"].rows) - 59) // 5) for p in run.task.parts)
    forecast = run.predict(frame)
    assert list(forecast.columns) == ["unique_id", "ds", "y"] and np.isfinite(forecast["y"]).all()
    with pytest.raises(SeqarenaError, match="rolling_stats"):
        bad = {**TRAIN, "task": {"rolling_windows": [6], "rolling_stats": ["median"]}}
        seqarena.fit(frame, "linear", horizon=12, lookback=48, out=tmp_path / "bad", config=bad, **QUIET)


def test_a_long_format_arena_with_statistical_baselines_ranks_by_a_backtest_crps(tmp_path: Path) -> None:
    pytest.importorskip("statsforecast")
    from seqarena.arena import spec as arena_spec
    from seqarena.arena.results import collect
    from seqarena.comparison import compare

    data = tmp_path / "panel.csv"
    long_frame().to_csv(data, index=False)
    spec = arena_spec.parse({
        "task": {"data": str(data), "lookback": 48, "horizon": 12, "eval_stride": 4}, "models": "auto_theta",
        "budget": {"params": "5k", "epochs": 2}, "workers": 1, "rank_by": "crps",
        "backtest": {"windows": 3}})  # fmt: skip
    assert arena_spec.task_class(spec).metric.key == "crps"
    compare(spec, tmp_path / "arena", log=lambda _: None)
    _, points = collect(tmp_path / "arena")
    board = points[0]["board"]
    assert {line["label"] for line in board} == {"auto_theta", "last_value", "seasonal_naive", "linear"}
    crps = [line["backtest_crps"] for line in board]  # ranked by the backtest, pooled over its windows
    assert crps == sorted(crps) and all(line["failed"] == 0 for line in board)
    assert all(len(line["window_values"]) == 9 for line in board)  # 3 series x 3 origins, paired across entrants
    assert "backtest windows (paired t-test p = " in (tmp_path / "arena" / "report.md").read_text()
    for entry in points[0]["entries"]:
        assert set(entry["row"]["result"]["metrics"]["test"]["series"]) == {"s0", "s1", "s2"}
        bands = entry["row"]["result"]["extras"]["predictions"]["window0_bands"]  # the report's fan chart
        assert set(bands) == {"90", "80", "50"} and all(lo <= hi for lo, hi in zip(*bands["80"], strict=True))
    assert "shaded: 90 and 80% intervals" in (tmp_path / "arena" / "report.html").read_text()
    with pytest.raises(SeqarenaError, match="rank_by='accuracy'"):
        arena_spec.parse({"task": {"data": str(data)}, "models": "gru", "rank_by": "accuracy"})
    with pytest.raises(SeqarenaError, match="no rolling-origin evaluation"):
        arena_spec.parse({"task": {"name": "classify"}, "models": "gru", "backtest": 3})


def test_the_paired_test_across_windows() -> None:
    from seqarena.arena.stats import paired_significance

    a, b = [3.0, 5.0, 7.0], [2.0, 3.0, 4.0]  # differences 1, 2, 3: t = 2 / (1 / sqrt 3), 2 degrees of freedom
    assert paired_significance(a, b) == pytest.approx(0.07418, abs=1e-4)
    assert paired_significance([1.0, 2.0], [0.0, 1.0]) == 0.0 and paired_significance(a, a) == 1.0
    assert paired_significance(a, b[:2]) is None
