"""The quality guard: strict JSON everywhere (never a bare NaN), a run with a non-finite metric is refused, a run
far worse than its task's trivial baseline is flagged in results.json, the log and the arena report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import seqarena
from seqarena.errors import SeqarenaError
from seqarena.files import write_json
from seqarena.registry import get_task
from seqarena.tasks.forecast import ForecastTask

TASK = {"data": "synthetic", "data_args": {"length": 400}, "lookback": 24, "horizon": 6}
QUIET = {"max_epochs": 2, "progress": False}


def strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_files_never_hold_nan_or_infinity(tmp_path: Path) -> None:
    write_json(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}, "e": 2.5})
    assert strict((tmp_path / "x.json").read_text()) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2.5}


def test_every_run_file_is_strict_json(tmp_path: Path) -> None:
    seqarena.train({"task": TASK, "model": {"name": "gru", "d_model": 8}, "train": QUIET}, tmp_path / "r", log=print)
    for path in (tmp_path / "r").rglob("*.json*"):
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for line in lines:
            strict(line)
    assert strict((tmp_path / "r" / "results.json").read_text())["status"] == "ok"


def test_a_non_finite_metric_is_an_error_and_the_run_says_invalid(tmp_path: Path, monkeypatch) -> None:
    real = ForecastTask.evaluate

    def broken(self, model, split, batch_size, device):
        metrics = real(self, model, split, batch_size, device)
        return {**metrics, "mse": math.nan} if split == "test" else metrics

    monkeypatch.setattr(ForecastTask, "evaluate", broken)
    with pytest.raises(SeqarenaError, match="test mse came out NaN or infinite"):
        seqarena.train({"task": TASK, "model": {"name": "gru", "d_model": 8}, "train": QUIET}, tmp_path / "r")
    saved = strict((tmp_path / "r" / "results.json").read_text())
    assert saved["status"].startswith("invalid") and saved["test"]["mse"] is None


def test_a_run_far_worse_than_the_trivial_baseline_is_flagged(tmp_path: Path) -> None:
    logs: list[str] = []
    cfg = {"task": TASK, "model": {"name": "lstm", "d_model": 8}, "train": {**QUIET, "lr": 1e6, "max_epochs": 1}}
    result = seqarena.train(cfg, tmp_path / "r", log=logs.append)
    assert result.warnings and "far worse than the trivial baseline" in result.warnings[-1]
    assert any(line.startswith("warning: test mse") for line in logs)
    assert strict((tmp_path / "r" / "results.json").read_text())["warnings"] == result.warnings
    good = seqarena.train({**cfg, "model": {"name": "linear"}, "train": {**QUIET, "lr": 1e-2}}, tmp_path / "g")
    assert not good.warnings and good.results["test"]["mse"] < good.results["test"]["last_value_mse"]


def test_the_report_names_flagged_runs() -> None:
    from seqarena.report.render import flagged

    entries = [
        {"label": "lstm", "seed": 1, "row": {"result": {"warnings": ["test mse 5e+05 is far worse ..."]}}},
        {"label": "gru", "seed": 0, "row": {"result": {"warnings": []}}},
        {"label": "rnn", "seed": 0, "row": {"status": "failed", "result": None}},
    ]
    assert flagged(entries) == ["Warning: lstm (seed 1): test mse 5e+05 is far worse ...."]


@pytest.mark.parametrize("name", ["forecast", "lm", "classify", "seq2seq"])
def test_every_task_names_a_trivial_baseline_it_reports(name: str) -> None:
    task_cls = get_task(name)
    key, reference = task_cls.baseline
    assert key in {m.key for m in (task_cls.metric, *task_cls.quality)} and reference


def test_a_column_that_never_changes_in_training_is_named(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    n = 300
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "y": np.sin(np.arange(n) / 5)})
    frame["flat"] = 3.0
    frame.to_csv(tmp_path / "s.csv", index=False)
    logs: list[str] = []
    task = {"data": str(tmp_path / "s.csv"), "lookback": 24, "horizon": 6}
    seqarena.train({"task": task, "model": {"name": "linear"}, "train": QUIET}, tmp_path / "r", log=logs.append)
    assert any("flat never change in the training split" in line for line in logs)
