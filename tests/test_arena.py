"""The arena end to end: plans, equal budgets, the results store, skipping finished runs after a kill,
recorded failures, the report (checked in headless Chromium)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seqarena.arena import spec as arena_spec
from seqarena.arena.results import collect
from seqarena.arena.store import Store
from seqarena.comparison import compare
from seqarena.errors import SeqarenaError

TASK = {"data": "synthetic", "data_args": {"length": 600, "channels": 2}, "lookback": 24, "horizon": 6}
TINY = {
    "task": TASK,
    "models": "rnn,gru",
    "budget": {"params": "3k", "epochs": 2},
    "seeds": 2,
    "workers": 2,
    "train": {"lr": 1e-2},
}


def test_expand_adds_baselines_and_sizes_every_entrant() -> None:
    plans = arena_spec.expand(arena_spec.parse({**TINY, "sweep": {"task.lookback": [24, 48]}}))
    labels = sorted({p.label for p in plans})
    assert labels == ["gru", "last_value", "linear", "rnn", "seasonal_naive"]
    per_point = [p for p in plans if p.point == {"task.lookback": 24}]
    assert sum(p.label == "rnn" for p in per_point) == 2 and sum(p.label == "last_value" for p in per_point) == 1
    assert all(p.raw["model"]["params"] == "3k" for p in plans if p.label in ("rnn", "gru"))
    assert all(p.raw["train"]["max_epochs"] == 2 for p in plans)
    assert len({p.key for p in plans}) == len(plans)  # lookback changes every run, baselines included
    again = arena_spec.expand(arena_spec.parse({**TINY, "sweep": {"task.lookback": [24, 48]}}))
    assert [p.key for p in again] == [p.key for p in plans]


def test_bad_arena_input_fails_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(SeqarenaError, match="unknown model"):
        compare(arena_spec.parse({**TINY, "models": "rnn,lstmm"}), tmp_path / "a", log=lambda _: None)
    with pytest.raises(SeqarenaError, match="does not exist"):
        compare(arena_spec.parse({**TINY, "task": {"data": "missing.csv"}}), tmp_path / "b", log=lambda _: None)
    with pytest.raises(SeqarenaError, match="unknown budget"):
        arena_spec.parse({**TINY, "budget": {"flops": 1}})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arena") / "tiny"
    spec = arena_spec.parse({**TINY, "sweep": {"train.lr": [1e-2, 1e30]}})  # the second point diverges
    compare(spec, out, log=lambda _: None)
    return out


def test_arena_records_every_run_with_profile_and_equal_budgets(arena: Path) -> None:
    spec, points = collect(arena)
    assert len(points) == 2
    good = next(p for p in points if p["point"] == {"train.lr": 1e-2})
    board = {b["label"]: b for b in good["board"]}
    assert board["rnn"]["runs"] == 2 and board["last_value"]["runs"] == 1
    for label in ("rnn", "gru"):
        assert abs(board[label]["params"] - 3000) <= 150  # within 5% of the budget
        for key in ("latency_b1_ms", "latency_b64_ms", "stream_step_ms", "size_bytes", "peak_rss_mb",
                    "samples_per_s", "test_mse_ci"):  # fmt: skip
            assert board[label][key] > 0, (label, key)
    assert "stream_step_ms" not in board["linear"]  # a forecaster cannot stream
    assert board["rnn"]["threads"] == 1  # two workers on two cores: one thread each


def test_failed_runs_are_recorded_and_do_not_stop_the_arena(arena: Path) -> None:
    rows = Store(f"sqlite:///{arena / 'results.db'}").rows().values()
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("diverged" in r["error"] for r in failed)
    assert any(r["status"] == "ok" for r in rows)


def test_report_html_and_markdown(arena: Path) -> None:
    html = (arena / "report.html").read_text()
    assert html.count("<svg") >= 5 and 'class="leaderboard"' in html and "Pareto" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script src" not in html  # self-contained
    assert "Quality:" in html and "significant across seeds (Welch p" in html
    assert "a parameter-free baseline wins" in html  # where every trained model diverged
    md = (arena / "report.md").read_text()
    assert "| # | model |" in md and "report_files/" in md


def test_rerun_skips_finished_runs(arena: Path) -> None:
    lines: list[str] = []
    spec = arena_spec.parse({**TINY, "sweep": {"train.lr": [1e-2, 1e30]}})
    compare(spec, arena, log=lines.append)
    assert "0 to run" in lines[0]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is needed for the report test: apt-get install chromium (make test does it)")
    return path


def test_report_renders_in_headless_chromium(arena: Path, tmp_path: Path) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    url = (arena / "report.html").as_uri()
    from PIL import Image

    for width in (1280, 420):  # a laptop and a phone
        shot = tmp_path / f"report-{width}.png"
        done = subprocess.run([chromium(), *flags, f"--window-size={width},1600", f"--screenshot={shot}", url],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert shot.is_file() and shot.stat().st_size > 20_000, done.stderr[-2000:]
        console = [ln for ln in done.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln or "ERR_FILE" in ln]
        assert not console, console
        image = Image.open(shot).convert("L")
        assert image.size == (width, 1600)
        assert len(np.unique(np.asarray(image.resize((64, 80))))) > 20  # text, tables and plots, not a blank page
    dom = subprocess.run([chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<svg") >= 5 and "leaderboard" in dom and "<td" in dom
    from seqarena.report.check import figures, problems

    models = ["rnn", "gru", "linear", "last_value", "seasonal_naive"]
    assert len(figures(dom)) >= 5 and problems(dom, models) == []  # a legend on every figure, one colour a model


def test_killed_arena_completes_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "seqarena", "compare", "--data", "synthetic", "--models", "rnn,gru",
            "--budget", "params=3k", "--budget", "epochs=1", "--seeds", "2", "--workers", "2",
            "--set", "task.data_args.length=600", "--set", "task.data_args.channels=2", "--set", "task.lookback=24",
            "--set", "task.horizon=6",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    done: dict[str, str] = {}
    while time.time() < deadline and proc.poll() is None:
        if (out / "results.db").exists():
            done = Store(f"sqlite:///{out / 'results.db'}").statuses()
            if len(done) >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None and len(done) >= 2, "the arena ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = Store(f"sqlite:///{out / 'results.db'}").statuses()
    total = len({p.key for p in arena_spec.expand(arena_spec.parse(yaml_load(out / "arena.yaml")))})
    assert len(before) < total
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} already in the store, {total - len(before)} to run" in rerun.stderr
    assert len(Store(f"sqlite:///{out / 'results.db'}").statuses()) == total
    assert "report:" in rerun.stdout and (out / "report.html").exists()


def yaml_load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


@pytest.mark.slow  # a local Ray instance takes minutes to start on a busy 2-core machine
def test_ray_executor_on_a_local_instance_yields_the_same_rows(arena: Path, tmp_path: Path) -> None:
    import ray  # noqa: F401 - in the dev extra, so `make test` always has it

    spec = arena_spec.parse({**TINY, "sweep": {"train.lr": [1e-2, 1e30]}})
    compare(spec, tmp_path / "ray", executor_name="ray", log=lambda _: None)
    local = Store(f"sqlite:///{arena / 'results.db'}").rows()
    ray_rows = Store(f"sqlite:///{tmp_path / 'ray' / 'results.db'}").rows()
    assert set(local) == set(ray_rows)
    for key, row in local.items():
        assert ray_rows[key]["status"] == row["status"]
        if row["status"] == "ok":
            assert ray_rows[key]["result"]["metrics"] == row["result"]["metrics"]
            assert ray_rows[key]["result"]["params"] == row["result"]["params"]


def test_summary_names_no_speed_winner_within_timing_noise() -> None:
    from seqarena.registry import get_task
    from seqarena.report.render import summary

    def entry(label: str, seconds: float) -> dict:
        return {"label": label, "runs": 1, "test_mse": 0.5, "test_mse_values": [0.5], "train_seconds": seconds}

    close = " ".join(summary([entry("gru", 18.9), entry("transformer", 19.1)], get_task("forecast")))
    assert "all within 5%" in close and "faster than" not in close
    apart = " ".join(summary([entry("lstm", 2.2), entry("gru", 11.3)], get_task("forecast")))
    assert "lstm trains fastest" in apart and "5.1x faster than gru" in apart


def test_run_keys_hash_the_values_that_differ_from_their_defaults() -> None:
    from seqarena.arena.spec import run_key

    base = {"model": {"name": "lstm"}, "task": {"data": "co2"}}
    assert run_key(base) == run_key({**base, "model": {"name": "lstm", "dropout": 0.0}})  # spelled-out default
    assert run_key(base) != run_key({**base, "model": {"name": "gru"}})
    assert run_key(base) != run_key({**base, "train": {"seed": 1}})
    assert run_key(base) != run_key({**base, "task": {"data": "co2", "lookback": 48}})
