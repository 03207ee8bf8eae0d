"""The arena's report and leaderboards as data: intervals that never cross zero (min-max below three seeds),
one colour per model with a legend on every figure (the check itself is tested to fail), `seqarena results
--format json|csv`, leaderboard.json/.csv, and readable files."""

from __future__ import annotations

import html
import json
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seqarena.arena import spec as arena_spec
from seqarena.arena.stats import interval, significance, t_quantile
from seqarena.comparison import compare
from seqarena.report.check import figures, problems

TASK = {"data": "synthetic", "lookback": 24, "horizon": 6}


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "arena"
    spec = {"task": TASK, "models": "rnn,gru", "budget": {"params": "4k", "epochs": 1}, "seeds": 2, "workers": 2,
            "baselines": False, "sweep": {"task.data": ["synthetic", "co2"]}}  # fmt: skip
    compare(arena_spec.parse(spec), out, log=lambda _: None)
    return out


def test_student_t_matches_the_published_table() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.975, 30) == pytest.approx(2.0423, abs=1e-4)
    assert significance([1.0, 1.1, 0.9], [1.0, 1.1, 0.9]) == pytest.approx(1.0)
    assert significance([1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05]) < 1e-4


def test_intervals_never_cross_zero_and_two_seeds_show_the_range() -> None:
    assert interval([3.0])[2] == "none"
    assert interval([1.0, 5.0]) == (1.0, 5.0, "min-max")
    lo, hi, kind = interval([0.1, 0.2, 9.0])  # a latency with one slow outlier: t would reach below zero
    assert kind == "95% CI" and lo == 0.0 and hi > 9.0
    lo, _, _ = interval([-1.0, 0.5, 2.0])  # a quantity that can be negative keeps its interval
    assert lo < 0


def test_the_figure_check_catches_a_model_in_two_colours() -> None:
    def fig(legend: dict[str, str], kind: str = "chart") -> str:
        escaped = html.escape(json.dumps(legend), quote=True)
        return f'<svg data-kind="{kind}" data-legend="{escaped}"></svg>'

    good = fig({"lstm": "#1f77b4", "gru": "#ff7f0e"}) + fig({"lstm": "#1f77b4", "truth": "#000000"})
    assert problems(good, ["lstm", "gru"]) == []
    assert "lstm has 2 colours" in " ".join(problems(good + fig({"lstm": "#2ca02c"}), ["lstm", "gru"]))
    assert "figure 2 has no legend" in problems(fig({"gru": "#ff7f0e"}) + fig({}), ["gru"])
    assert problems(fig({}, "heatmap"), []) == []  # a heatmap's legend is its colour bar
    assert "share the colour" in " ".join(problems(fig({"lstm": "#111111", "gru": "#111111"}), ["lstm", "gru"]))


def test_report_explains_its_numbers_and_keeps_colours(arena: Path) -> None:
    page = (arena / "report.html").read_text(encoding="utf-8")
    assert "reads the last 24 steps and forecasts the next 6" in page and "standardised values" in page
    assert "mean over 2 seeds" in page and "lowest and highest" in page
    assert "MAE (data units)" in page and "MASE" in page and "budget: 4,000 parameters, 1 epochs" in page
    assert '{"' not in page.split("<body>")[1].split("<svg")[0]  # no raw JSON in the header
    assert problems(page, ["rnn", "gru"]) == [] and len(figures(page)) >= 8
    assert "test MSE vs task.data" in page


def test_sweep_joins_points_only_along_a_numeric_axis() -> None:
    from seqarena.report.plots import sweep_figure

    def points(values: list) -> list[dict]:
        return [{"point": {"axis": v}, "board": [{"label": "gru", "test_mse": 0.1 * (i + 1)}]}
                for i, v in enumerate(values)]  # fmt: skip

    def joined(values: list) -> bool:
        fig = sweep_figure(points(values), "axis", "test_mse", "test MSE", {"gru": "#1f77b4"})
        return any(
            len(ln.get_xdata()) > 1 and ln.get_linestyle() not in ("None", "none", "") for ln in fig.axes[0].lines
        )

    assert joined([48, 96, 192]) and not joined(["ETTh1", "co2"])


def test_leaderboards_as_data(arena: Path) -> None:
    board = json.loads((arena / "leaderboard.json").read_text())
    rows = board["rows"]
    assert board["ranked_on"] == "test_mse" and {r["sweep.task.data"] for r in rows} == {"synthetic", "co2"}
    rnn = next(r for r in rows if r["model"] == "rnn" and r["sweep.task.data"] == "co2")
    assert rnn["runs"] == 2 and rnn["interval"] == "min-max" and rnn["test_mse_low"] <= rnn["test_mse"]
    assert rnn["test_mse"] <= rnn["test_mse_high"] and rnn["test_mae_orig"] > 0
    table = pd.read_csv(arena / "leaderboard.csv")
    assert len(table) == len(rows) and list(table["model"]) == [r["model"] for r in rows]
    for name in ("leaderboard.json", "leaderboard.csv", "report.html", "results.db"):
        assert stat.S_IMODE((arena / name).stat().st_mode) & 0o044 == 0o044, name  # others may read them


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqarena", *args], capture_output=True, text=True, timeout=120)


def test_results_command_formats(arena: Path, tmp_path: Path) -> None:
    done = _cli("results", str(arena), "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["rows"]
    out = tmp_path / "board.csv"
    done = _cli("results", str(arena), "--format", "csv", "--output", str(out))
    assert done.returncode == 0 and done.stdout == "" and "model" in out.read_text().splitlines()[0]
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044
    bad = _cli("results", str(arena), "--format", "jsn")
    assert bad.returncode == 2 and "did you mean 'json'" in bad.stderr and "Traceback" not in bad.stderr
    assert "test MSE" in _cli("results", str(arena)).stdout


def test_a_share_keeps_its_interval_within_one() -> None:
    _, hi, _ = interval([0.2, 0.95, 0.99], share=True)  # three F1s: the t interval would pass 1
    assert hi == 1.0 and interval([0.2, 0.95, 0.99])[1] > 1.0
