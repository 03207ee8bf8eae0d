"""Processes sharing a real PostgreSQL server: one arena run from two processes, one Optuna study from two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from postgres import create_database
from seqarena.arena.store import Store

pytest.importorskip("psycopg", reason="seqarena[postgres] is part of the dev install")

TASK = {"data": "synthetic", "data_args": {"length": 700, "channels": 2}, "lookback": 24, "horizon": 6}
TRAIN = {"batch_size": 32, "threads": 1, "patience": None}


def _spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "seqarena", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(*jobs: subprocess.Popen) -> list[str]:
    outs = []
    for job in jobs:
        stdout, stderr = job.communicate(timeout=600)
        assert job.returncode == 0, stderr[-3000:]
        outs.append(stderr)
    return outs


def test_one_arena_from_two_processes_trains_each_run_once(postgres: str, tmp_path: Path) -> None:
    url = create_database(postgres, "arena")
    spec = {"task": TASK, "models": [{"name": "lstm", "d_model": 8}, {"name": "gru", "d_model": 8}],
            "budget": {"epochs": 2}, "seeds": 2, "train": TRAIN, "baselines": False}  # fmt: skip
    path = tmp_path / "arena.yaml"
    path.write_text(yaml.safe_dump(spec))
    outs = [tmp_path / "a", tmp_path / "b"]
    jobs = [_spawn("compare", str(path), "--out", str(o), "--store", url, "--workers", "1") for o in outs]
    _finish(*jobs)
    rows = Store(url).rows()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())
    trained = [{p.name for p in (o / "runs").glob("*") if (p / "results.json").is_file()} for o in outs]
    assert not trained[0] & trained[1], "a run was trained by both processes"
    assert trained[0] | trained[1] == set(rows)
    for out in outs:  # each process reports the whole arena
        assert (out / "report.md").is_file() and all(r["label"] in (out / "report.md").read_text()
                                                     for r in rows.values())  # fmt: skip


def test_one_optuna_study_from_two_processes(postgres: str, tmp_path: Path) -> None:
    url = create_database(postgres, "optuna")
    config = {"task": TASK, "model": {"name": "lstm", "d_model": 16},
              "train": {**TRAIN, "max_epochs": 2, "progress": False}}  # fmt: skip
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    outs = [tmp_path / "x", tmp_path / "y"]
    jobs = [_spawn("tune", str(path), "--trials", "6", "--storage", url, "--out", str(o), "--seed", str(i))
            for i, o in enumerate(outs)]  # fmt: skip
    _finish(*jobs)
    summaries = [json.loads((o / "trials.json").read_text()) for o in outs]
    last = max(summaries, key=lambda s: s["trials"])  # the process that finished last saw every trial
    total = last["trials"]
    assert 6 <= total <= 7  # each process checks the total when a trial ends: at most one extra
    numbers = [{int(p.name) for p in (o / "trials").iterdir()} for o in outs]
    assert numbers[0] and numbers[1], "both processes ran trials"
    assert not numbers[0] & numbers[1] and len(numbers[0] | numbers[1]) >= 6
    assert sum(r["default"] for r in last["rows"]) == 1
