from __future__ import annotations

import hashlib

import numpy as np
import pytest

from seqarena.config import build
from seqarena.data import registry
from seqarena.data.download import download
from seqarena.data.timeseries import fill_missing, read_csv
from seqarena.errors import DataError
from seqarena.tasks.forecast import ForecastTask


def test_etth1_uses_the_standard_borders_and_train_only_scaling(data_dir) -> None:
    task = ForecastTask(build({"task": {"data": "ETTh1"}}))
    assert task.bounds == {"train": (0, 8640), "val": (8544, 11520), "test": (11424, 14400)}
    assert len(task.windows["train"]) == 8449 and len(task.windows["test"]) == 2785
    train_values = task.series.values[:8640]
    np.testing.assert_allclose(task.scaler.mean, train_values.mean(0))
    x, y = task.windows["test"].batch(np.array([0]))
    assert x.shape == (1, 96, 7) and y.shape == (1, 96, 7)


def test_ratio_split_and_features_ms(data_dir) -> None:
    task = ForecastTask(build({"task": {"data": "illness", "features": "MS"}}))
    assert task.cfg.task.lookback == 36 and task.cfg.task.horizon == 24  # the dataset's defaults
    assert task.out_columns == ["OT"] and len(task.in_columns) == 7
    n = len(task.series.values)
    assert task.bounds["train"] == (0, int(n * 0.7))


def test_registry_verifies_checksums(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "ett-small"
    folder.mkdir()
    (folder / "ETTh1.csv").write_text("date,OT\n2016-07-01 00:00:00,1.0\n")
    monkeypatch.setenv("SEQARENA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="sha256 .* expected"):
        registry.fetch(registry.get_info("ETTh1"))


def test_download_verifies_and_leaves_nothing_on_mismatch(tmp_path) -> None:
    src = tmp_path / "src.csv"
    src.write_text("a,b\n1,2\n")
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "x.csv"
    with pytest.raises(DataError, match="nothing was saved"):
        download(src.as_uri(), dest, "0" * 64)
    assert not dest.exists() and not (tmp_path / "cache").exists()
    assert download(src.as_uri(), dest, good).read_text() == "a,b\n1,2\n"


def test_unreachable_url_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DataError, match="could not download"):
        download((tmp_path / "missing.csv").as_uri(), tmp_path / "x.csv", "0" * 64)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("date,a\n", "no data rows"),
        ("date,a,b\n2020-01-01,1,x\n2020-01-02,2,y\n", "non-numeric column"),
        ("date,a\nnot-a-date,1\n2020-01-02,2\n", "is not a date"),
    ],
)
def test_bad_csv_is_a_one_line_error(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_csv(path)
    assert "\n" not in str(info.value)


def test_nans_fail_with_their_position_or_are_filled(tmp_path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("date,a,b\n2020-01-01,1,2\n2020-01-02,,4\n2020-01-03,3,6\n")
    series = read_csv(path)
    with pytest.raises(DataError, match="row 2, column 'a'.*task.fill"):
        fill_missing(series, None)
    assert fill_missing(series, "interpolate").values[1, 0] == 2.0
    assert fill_missing(series, "ffill").values[1, 0] == 1.0


def test_series_too_short_for_the_window(tmp_path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("date,a\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 29)))
    with pytest.raises(DataError, match="fewer than task.lookback"):
        ForecastTask(build({"task": {"data": str(path), "lookback": 8, "horizon": 6}}))


def test_unknown_dataset_suggests_a_name() -> None:
    with pytest.raises(DataError, match="did you mean 'ETTh"):
        registry.get_info("ETTh3")


def test_embedded_and_synthetic_need_no_download() -> None:
    co2 = ForecastTask(build({"task": {"data": "co2"}}))
    assert co2.series.values.shape == (2284, 1) and not np.isnan(co2.series.values).any()
    syn = ForecastTask(build({"task": {"data": "synthetic", "data_args": {"length": 500, "channels": 2}}}))
    assert syn.series.values.shape == (500, 2)
    with pytest.raises(DataError, match="unknown task.data_args"):
        ForecastTask(build({"task": {"data": "synthetic", "data_args": {"lenght": 5}}}))
