"""Data-parallel training: 2 gloo ranks on the CPU against one process on the same global batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import seqarena
from seqarena.errors import SeqarenaError
from seqarena.training import distributed

CONFIG = {
    "task": {"data": "synthetic", "data_args": {"length": 3000, "channels": 2}, "lookback": 48, "horizon": 12},
    "model": {"name": "lstm", "d_model": 24, "dropout": 0.0},
    "train": {"max_epochs": 4, "batch_size": 30, "lr": 1e-3, "threads": 1, "patience": None, "progress": False},
    "eval": {"batch_size": 256},
}
TOLERANCE = 1e-5  # relative, on validation and test MSE: float sums in another order (measured: about 1e-8)


def test_a_shard_and_its_weight_give_the_global_mean() -> None:
    batch = (torch.arange(7.0).view(7, 1), torch.zeros(7, 3), torch.tensor(2.0))
    world = [distributed.World(r, 2, r, "gloo") for r in (0, 1)]
    parts = [distributed.shard(batch, w) for w in world]
    assert [len(p[0][0]) for p in parts] == [4, 3] and parts[1][0][2].item() == 2.0  # scalars ride along whole
    # sum over ranks of weight * local mean / ranks == the global mean
    mean = sum(w * p[0].mean() for (p, w) in parts) / 2
    assert mean.item() == pytest.approx(batch[0].mean().item())


def _torchrun(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "seqarena", "train", str(config), "--out", str(out), "--nproc", "2", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ranks(parent: int) -> dict[int, int]:
    """rank -> pid of torchrun's workers below `parent`."""
    found: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        env = dict(e.split(b"=", 1) for e in environ if b"=" in e)
        if b"RANK" in env and b"TORCHELASTIC_RUN_ID" in env and _descends(int(proc.name), parent, stat):
            found[int(env[b"RANK"])] = int(proc.name)
    return found


def _descends(pid: int, ancestor: int, stat: str) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
    return False


def test_two_ranks_match_one_process_and_resume_after_a_rank_is_killed(tmp_path: Path) -> None:
    single = seqarena.train(CONFIG, tmp_path / "single", log=lambda _: None)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "ddp"
    job = _torchrun(config, out)
    latest = out / "checkpoint" / "latest.json"
    deadline = time.time() + 240
    while time.time() < deadline and job.poll() is None:
        if latest.is_file() and int(json.loads(latest.read_text())["folder"][-5:]) >= 2:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job ended before a rank could be killed: " + job.communicate()[1][-2000:]
    ranks = _ranks(job.pid)
    assert set(ranks) == {0, 1}, ranks
    os.kill(ranks[1], signal.SIGKILL)
    _, err = job.communicate(timeout=120)
    assert job.returncode != 0 and not (out / "results.json").exists()
    resumed = _torchrun(config, out, "--resume")
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert "resumed from the checkpoint" in err
    results = json.loads((out / "results.json").read_text())
    assert json.loads((out / "run.json").read_text())["distributed"] == {"world_size": 2, "backend": "gloo"}
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 4 and history[-1]["step"] == single.history[-1]["step"]  # the same global steps
    for split in ("val", "test"):
        assert results[split]["mse"] == pytest.approx(single.results[split]["mse"], rel=TOLERANCE), split
    assert json.loads(stdout)["run_dir"] == str(out)  # rank 0 alone reports


def test_a_time_budget_is_refused_across_ranks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(distributed, "from_env", lambda _: distributed.World(0, 2, 0, "gloo"))
    cfg = json.loads(json.dumps(CONFIG))
    cfg["train"]["max_seconds"] = 5
    with pytest.raises(SeqarenaError, match="max_seconds cannot be honoured"):
        seqarena.train(cfg, tmp_path / "r", log=lambda _: None)
    assert not (tmp_path / "r").exists()
