"""Anomaly detection: the metrics against hand-counted cases, causal scoring, the task contract on a labelled file,
real learning against the last-value baseline, the bundled heart-rate series, injection, refusals and the arena."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqarena.config import build
from seqarena.data.anomalies import BLEEDING, inject, load_anomalies
from seqarena.errors import ConfigError, DataError
from seqarena.run import train
from seqarena.tasks.anomaly import AnomalyTask
from seqarena.tasks.anomaly_metrics import average_precision, best_f1_threshold, detection_metrics, point_adjust
from seqarena.tasks.anomaly_model import point_scores
from seqarena.testing import check_task

QUIET = {"log": lambda _: None}


def series(path: Path, n: int = 3000, seed: int = 0, label: bool = True) -> Path:
    """A noisy sine (period 25) whose anomalies are frozen stretches (invisible to the last-value error) and spikes."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 25) + 0.1 * rng.normal(size=n)
    y = np.zeros(n, dtype=int)
    for start in range(150, n - 40, 180):
        if (start // 180) % 3 == 2:
            x[start] += 4.0
            y[start] = 1
        else:
            x[start : start + 20] = x[start - 1]
            y[start : start + 20] = 1
    frame = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=n, freq="h"), "value": x})
    if label:
        frame["is_anomaly"] = y
    frame.to_csv(path, index=False)
    return path


def test_metrics_count_steps_and_segments() -> None:
    labels = np.array([0, 1, 1, 1, 0, 0, 1, 0], dtype=bool)
    scores = np.array([0.1, 0.9, 0.2, 0.3, 0.1, 0.8, 0.7, 0.0])
    m = detection_metrics(scores, labels, 0.5, tolerance=0)
    assert (m["precision"], m["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 4))
    assert m["pa_f1"] == pytest.approx(2 * 0.8 / 1.8)  # both segments found: 4 of the 5 adjusted flags true
    assert m["top_hit"] == 1.0 and m["anomalies"] == 2 and m["flagged"] == 3
    assert point_adjust(scores > 0.5, labels).tolist() == [False, True, True, True, False, True, True, False]
    assert average_precision(np.array([3.0, 2.0, 1.0]), np.array([True, False, True])) == pytest.approx((1 + 2 / 3) / 2)
    thr = best_f1_threshold(scores, labels)  # flagging the top 5 (F1 8/9) beats the top 4 (0.75) and all (0.67)
    assert (scores > thr).sum() == 5 and detection_metrics(scores, labels, thr, 0)["f1"] == pytest.approx(8 / 9)


def test_forecast_scores_never_see_later_steps(tmp_path: Path) -> None:
    cfg = build({"task": {"name": "anomaly", "data": str(series(tmp_path / "s.csv")), "window": 16},
                 "model": {"name": "gru", "d_model": 8}})  # fmt: skip
    task = AnomalyTask(cfg)
    model = task.build_model(task.cfg)
    x = task.x.clone()
    before = point_scores(model, x, 64, torch.device("cpu"))
    x[500] += 10.0
    after = point_scores(model, x, 64, torch.device("cpu"))
    assert np.isnan(before[0]) and not np.isnan(before[1:]).any()
    assert np.array_equal(before[:500], after[:500], equal_nan=True) and after[500] != before[500]


def test_the_anomaly_task_passes_the_task_contract(tmp_path: Path) -> None:
    data = series(tmp_path / "s.csv", 1500)
    check_task("anomaly", {"data": str(data), "window": 16}, predict_input=series(tmp_path / "p.csv", 400, 1, False),
               tmp_dir=tmp_path / "run")  # fmt: skip


def test_a_forecaster_finds_what_the_last_value_error_cannot(tmp_path: Path) -> None:
    raw = {"task": {"name": "anomaly", "data": str(series(tmp_path / "s.csv")), "window": 32},
           "model": {"name": "gru", "d_model": 16}, "train": {"max_epochs": 6, "lr": 1e-2, "seed": 0,
                                                              "progress": False}}  # fmt: skip
    run = train(raw, tmp_path / "run", **QUIET)
    test = run.results["test"]
    assert test["f1"] > test["baseline_f1"] + 0.2 and test["auc_pr"] > test["baseline_auc_pr"] + 0.2, test
    assert run.config.task.threshold == "best_f1"  # validation holds labelled anomalies
    frame = run.predict(series(tmp_path / "p.csv", 600, 1, False))
    assert list(frame.columns) == ["step", "score", "anomaly"] and len(frame) == 599 and frame["anomaly"].any()


def test_the_bundled_heart_rate_series_and_its_split() -> None:
    data = load_anomalies(BLEEDING, None, "is_anomaly")
    assert data.values.shape == (7501, 1) and data.labels.sum() == 12 and data.train_end == 1200
    task = AnomalyTask(build({"task": {"name": "anomaly"}, "model": {"name": "gru", "d_model": 8}}))
    assert task.bounds == {"train": (0, 960), "val": (960, 1200), "test": (1200, 7501)}
    assert task.cfg.task.threshold == "quantile"  # its validation part is all normal


def test_injection_is_seeded_and_labels_what_it_changed(tmp_path: Path) -> None:
    data = load_anomalies(str(series(tmp_path / "s.csv")), None, "is_anomaly")
    a, counts = inject(data, 3)
    b, _ = inject(data, 3)
    assert np.array_equal(a.values, b.values) and sum(counts.values()) == 15
    changed = (a.values != data.values).any(1)
    assert changed[~a.labels].sum() == 0 and a.labels.sum() > changed.sum() - 1  # only labelled steps change


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    data = str(series(tmp_path / "s.csv"))
    cases = [
        ({"data": data}, {"name": "lstm", "bidirectional": True}, ConfigError, "task.score=reconstruction"),
        ({"data": BLEEDING, "threshold": "best_f1"}, {"name": "gru"}, ConfigError, "no.*labelled anomalies|has none"),
        ({"data": str(series(tmp_path / "n.csv", 800, label=False))}, {"name": "gru"}, DataError, "no label column"),
        ({"data": data, "split": [0.9, 0.09, 0.01]}, {"name": "gru"}, DataError, "fewer than task.window"),
    ]
    for k, (task, model, error, match) in enumerate(cases):
        with pytest.raises(error, match=match):
            train({"task": {"name": "anomaly", **task}, "model": model}, tmp_path / f"r{k}", **QUIET)
        assert not (tmp_path / f"r{k}").exists()


def test_anomaly_detection_in_the_arena(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    spec = parse({"task": {"name": "anomaly", "data": str(series(tmp_path / "s.csv", 1500)), "window": 16},
                  "models": "gru,lstm", "budget": {"params": "5k", "epochs": 2}, "seeds": 1, "workers": 1})  # fmt: skip
    report = compare(spec, tmp_path / "arena", log=lambda _: None)
    board = collect(tmp_path / "arena", None)[1][0]["board"]
    assert {b["label"] for b in board} == {"gru", "lstm"} and all(0 <= b["test_f1"] <= 1 for b in board)
    assert "last-value error" in report.read_text(encoding="utf-8")
