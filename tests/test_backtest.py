"""Rolling-origin backtests of a forecasting run, with and without refitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import seqarena
from seqarena.errors import SeqarenaError
from seqarena.run import backtest

QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bt") / "run"
    cfg = {
        "task": {"name": "forecast", "data": "synthetic", "data_args": {"length": 700, "channels": 2},
                 "lookback": 32, "horizon": 8},
        "model": {"name": "linear"},
        "train": {"max_epochs": 3, "progress": False, "threads": 1},
    }  # fmt: skip
    seqarena.train(cfg, out, **QUIET)
    return out


def test_windows_end_at_the_test_end_and_pool_to_the_mean(run_dir: Path) -> None:
    result = backtest(run_dir, windows=4, step=5, **QUIET)
    origins = [w["origin"] for w in result["windows"]]
    assert origins == [700 - 8 - 15, 700 - 8 - 10, 700 - 8 - 5, 700 - 8]
    mean_mse = sum(w["mse"] for w in result["windows"]) / 4  # equal windows: the pooled mean is the plain mean
    assert result["mean"]["mse"] == pytest.approx(mean_mse, rel=1e-9)
    assert {"crps", "coverage_80", "mase"} <= set(result["mean"])


def test_refitting_trains_again_before_each_window(run_dir: Path) -> None:
    fixed = backtest(run_dir, windows=2, step=8, **QUIET)
    messages: list[str] = []
    refit = backtest(run_dir, windows=2, step=8, refit="every", log=messages.append)
    assert len(messages) == 2 and "training on the 684 rows" in messages[0]
    assert [w["origin"] for w in refit["windows"]] == [w["origin"] for w in fixed["windows"]]
    assert refit["windows"][0]["mse"] != fixed["windows"][0]["mse"]  # another model, trained on other rows
    assert refit["mean"]["mse"] < 10 * fixed["mean"]["mse"]
    again = backtest(run_dir, windows=2, step=8, refit=1, **QUIET)
    assert again["windows"] == refit["windows"]  # refits are seeded: the same numbers again


def test_the_cli_prints_windows_and_mean(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from seqarena.cli import app

    done = CliRunner().invoke(app, ["backtest", str(run_dir), "--windows", "3"])
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout[done.stdout.index("{") :])
    assert len(body["windows"]) == 3 and body["settings"]["step"] == 8


@pytest.mark.parametrize(
    ("options", "message"),
    [({"windows": 500}, "give fewer --windows"), ({"refit": "sometimes"}, "--refit 'sometimes'"),
     ({"windows": 0}, "at least 1")],
)  # fmt: skip
def test_bad_backtests_are_one_line(run_dir: Path, options: dict, message: str) -> None:
    with pytest.raises(SeqarenaError, match=message) as err:
        backtest(run_dir, **options, **QUIET)
    assert "\n" not in str(err.value)
