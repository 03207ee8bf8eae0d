"""`seqarena advise`: the rules' shortlist from properties or measured data, measured constraints, the verifying
race and the track record; bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seqarena.advise import Properties, advise, candidates, from_data, track
from seqarena.advise.verify import agreement, entrants, race
from seqarena.errors import SeqarenaError
from seqarena.tasks.base import Metric


def _top(props: Properties) -> str:
    return advise(props)["shortlist"][0]["model"]


def test_the_rules_follow_the_decision_trees() -> None:
    assert _top(Properties(task="forecast", seq_len=30, samples=5000)) == "gru"
    long = advise(Properties(task="lm", seq_len=5000, samples=100_000))
    assert long["shortlist"][0]["model"] in ("transformer", "s4d")
    assert "rnn" not in [p["model"] for p in long["shortlist"]]
    assert _top(Properties(task="forecast", seq_len=96, samples=5000, irregular=True)) == "grud"
    seasonal = advise(Properties(task="forecast", seq_len=96, samples=800, seasonal_strength=0.9))
    assert seasonal["shortlist"][0]["model"] == "linear"
    assert any(r["name"] == "small data" for r in seasonal["rules"])
    for pick in long["shortlist"]:
        assert all(isinstance(points, float | int) and name for points, name in pick["reasons"])


def test_streaming_leaves_out_models_without_a_carried_state() -> None:
    keep, out = candidates(Properties(task="classify", streaming=True))
    assert "lstm" in keep and "transformer" not in keep
    assert any(e["model"] == "transformer" and "stream" in e["why"] for e in out)
    keep, out = candidates(Properties(task="lm"))
    assert "linear" not in keep  # a forecaster cannot be a language model


def test_properties_are_measured_from_the_data() -> None:
    props = from_data("forecast", "co2")
    assert props.period == 52 and props.seasonal_strength > 0.5 and props.samples and props.seq_len == 104
    diag = from_data("adding", "adding", {"length": 30, "n_train": 100, "n_val": 10, "n_test": 10})
    assert diag.seq_len == 30 and diag.samples == 100


def test_a_latency_budget_is_measured_and_enforced() -> None:
    props = Properties(task="forecast", seq_len=96, samples=5000, latency_ms=1e6)
    loose = advise(props)
    assert all(p["measured"]["latency_ms"] > 0 for p in loose["shortlist"])
    fastest = min(loose["shortlist"] + loose["others"], key=lambda p: p["measured"]["latency_ms"])
    tight = advise(
        Properties(task="forecast", seq_len=96, samples=5000, latency_ms=fastest["measured"]["latency_ms"] * 3)
    )
    assert len(tight["excluded"]) > len(loose["excluded"])
    with pytest.raises(SeqarenaError, match="no model meets"):
        advise(Properties(task="forecast", seq_len=96, latency_ms=1e-6))


def test_agreement_counts_a_hit_within_the_best_interval() -> None:
    advice = {
        "shortlist": [{"model": "lstm", "family": "recurrent"}],
        "others": [{"model": "gru", "family": "recurrent"}, {"model": "transformer", "family": "attention"}],
    }
    board = [
        {"label": "gru", "test_mse": 1.0, "test_mse_ci": 0.2},
        {"label": "lstm", "test_mse": 1.1, "test_mse_ci": 0.1},
        {"label": "transformer", "test_mse": 2.0, "test_mse_ci": 0.1},
    ]
    result = agreement(advice, board, Metric("mse", "test MSE"))
    assert result["hit"] and result["top_pick_rank"] == 2 and result["measured_best"] == "gru"
    board[1]["test_mse"] = 1.5
    assert not agreement(advice, board, Metric("mse", "test MSE"))["hit"]
    assert entrants(advice) == ["lstm", "gru", "transformer"]


def test_the_race_verifies_the_shortlist_on_the_data(tmp_path: Path) -> None:
    task = {"name": "adding", "data": "adding", "length": 10, "n_train": 200, "n_val": 50, "n_test": 50}
    advice = advise(from_data("adding", "adding", {k: v for k, v in task.items() if k not in ("name", "data")}))
    result = race(advice, tmp_path / "race", 4, task, params=3000, log=lambda _: None, workers=1, most=3)
    assert result["entrants"] == [p["model"] for p in (advice["shortlist"] + advice["others"])[:3]]
    assert result["measured_best"] in result["entrants"] and isinstance(result["hit"], bool)
    assert (tmp_path / "race" / "report.html").is_file()


def test_the_track_record_reports_a_hit_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = {"length": 10, "n_train": 200, "n_val": 50, "n_test": 50}
    monkeypatch.setattr(
        track, "DATASETS", (("adding", "adding", small), ("copy_memory", "copy_memory", {**small, "length": 5}))
    )
    doc = track.track_record(tmp_path / "track", seconds=2, log=lambda _: None, seeds=1, most=2, workers=1)
    assert doc["datasets"] == 2 and 0 <= doc["hit_rate"] <= 1 and doc["interval"][0] <= doc["hit_rate"]
    assert "Hit rate" in (tmp_path / "track" / "advisor.md").read_text()
    assert track.wilson(0, 6)[0] == 0 and 0.6 < track.wilson(6, 6)[0] < 0.7


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--latency-ms", "0"], "impossible"),
        (["--memory-mb", "-5"], "impossible"),
        (["--seq-len", "0"], "impossible"),
        (["--device", "tpu"], "cpu, cuda"),
        (["--task", "nope"], "unknown task"),
        (["--verify"], "give --data"),
        (["--data", "co2", "--samples", "10"], "come from the data"),
        (["--budget", "epochs=3"], "seconds=N"),
        (["--data", "nosuchdata"], "nosuchdata"),
    ],
)
def test_bad_advise_input_is_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "seqarena", "advise", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr


def test_an_empty_dataset_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("date,y\n")
    done = subprocess.run([sys.executable, "-m", "seqarena", "advise", "--data", str(tmp_path / "empty.csv")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "no data rows" in done.stderr
