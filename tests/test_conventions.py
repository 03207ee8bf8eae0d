"""What users of the ecosystem expect: training defaults that adapt to the data size, --version and
`python -m seqarena`, shell completion, NO_COLOR, a quiet Python API (logging, with a verbose switch), optional
dependencies named by their extra, the embedded co2 series without statsmodels, and TensorBoard/MLflow logging."""

from __future__ import annotations

import functools
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import seqarena
from seqarena.config import parse
from seqarena.errors import SeqarenaError
from seqarena.training.defaults import adapt, choose

SMALL = {"task": {"data": "synthetic", "data_args": {"length": 400, "channels": 1}, "lookback": 24, "horizon": 6},
         "model": {"name": "gru", "d_model": 8}, "train": {"max_epochs": 2, "progress": False}}  # fmt: skip


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqarena", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_defaults_follow_the_training_set_size() -> None:
    assert choose(8000) == {"batch_size": 32, "max_epochs": 10, "warmup_steps": 0, "patience": 3}
    small = choose(40)  # GunPoint: 40 training cases
    assert small["batch_size"] == 8 and small["max_epochs"] == 300 and small["patience"] is None
    assert 0 < small["warmup_steps"] < 5 * 300
    middle = choose(300)
    assert middle["batch_size"] == 16 and 10 <= middle["max_epochs"] < 300
    cfg, note = adapt(parse({}), 40)
    assert cfg.train.batch_size == 8 and "40 training examples" in note
    given, _ = adapt(parse({}, ["train.max_epochs=7", "train.batch_size=4"]), 40)
    assert given.train.max_epochs == 7 and given.train.batch_size == 4  # an explicit value is never changed
    assert given.train.warmup_steps == 10 * 7 // 15  # 1/15 of the 70 steps of 7 epochs of 10 batches
    unvalidated, _ = adapt(parse({}), 40, validates=False)
    assert unvalidated.train.patience is None


def test_resolved_config_records_the_chosen_values(tmp_path: Path) -> None:
    result = seqarena.train(SMALL, tmp_path / "run")
    saved = (tmp_path / "run" / "config.yaml").read_text()
    machine_bound = ("precision: auto", "device: auto", "matmul: auto")  # each machine resolves these; run.json
    train = saved.split("train:")[1].split("eval:")[0]  # records what they took
    assert "auto" not in functools.reduce(lambda text, kept: text.replace(kept, ""), machine_bound, train)
    assert result.config.train.batch_size == 16 and result.config.train.patience is None
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert files and all(p.stat().st_mode & 0o044 == 0o044 for p in files), "every file readable by others"


def test_version_module_entry_point_completion_and_no_color() -> None:
    done = _cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"seqarena {seqarena.__version__}"
    helped = _cli("--help")
    assert helped.returncode == 0 and "compare" in helped.stdout and "--install-completion" in helped.stdout
    coloured = _cli("--help", env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}).stdout
    plain = _cli("--help", env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": "1"}).stdout
    colour = re.compile(r"\x1b\[[0-9;]*3[0-9](;[0-9]+)*m")
    assert colour.search(coloured) and not colour.search(plain)


def test_python_api_is_quiet_until_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    seqarena.train(SMALL, tmp_path / "quiet")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    stream = io.StringIO()
    seqarena.verbose(stream=stream)
    try:
        seqarena.train(SMALL, tmp_path / "loud")
    finally:
        seqarena.verbose(False)
    assert "gru on synthetic" in stream.getvalue() and "epoch 2/2" in stream.getvalue()
    assert capsys.readouterr().out == ""


def test_a_missing_extra_is_named() -> None:
    from seqarena.extras import need

    with pytest.raises(SeqarenaError, match=r"pip install 'seqarena\[track\]'"):
        need("no_such_module_xyz", "track")


def test_embedded_co2_ships_with_the_package() -> None:
    from seqarena.data.embedded import load_embedded

    series, tag = load_embedded("co2")
    assert series.values.shape == (2284, 1) and tag.startswith("embedded:")
    assert series.checksum() == "ee5afa98318c2069baa753b7b8a327b96b0217017cf94aa8407e914d3cbfaa35"  # statsmodels'
    assert str(series.time[0].date()) == "1958-03-29" and series.time.freqstr == "W-SAT"


def test_tensorboard_and_mlflow_loggers_write_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = {**SMALL, "train": {**SMALL["train"], "loggers": ["tensorboard", "mlflow"]}}
    result = seqarena.train(cfg, tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    losses = [e.value for e in events.Scalars("train/loss")]
    assert len(losses) == 2 and losses == pytest.approx([h["train_loss"] for h in result.history])
    assert "test/mse" in events.Tags()["scalars"]
    run_id = seqarena.run.read_json(tmp_path / "run" / "mlflow.json")["run_id"]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["model.name"] == "gru"
    assert [m.value for m in client.get_metric_history(run_id, "val_loss")] == pytest.approx(
        [h["val_loss"] for h in result.history])  # fmt: skip
    assert run.data.metrics["test_mse"] == pytest.approx(result.results["test"]["mse"])


LARGE_SETS = [
    {"task": {"name": "forecast", "data": "ETTh1"}},
    {"task": {"name": "lm", "data": "tinyshakespeare"}, "model": {"name": "gru"}},
    {"task": {"name": "lm", "data": "tinyshakespeare"}, "model": {"name": "transformer"}},
]


@pytest.mark.parametrize("raw", LARGE_SETS)
def test_large_data_keeps_the_settings_of_its_published_tables(raw: dict, data_dir: Path) -> None:
    from seqarena.config import build
    from seqarena.registry import get_task

    cfg = build(raw)
    task = get_task(cfg.task.name)(cfg)
    resolved, _ = adapt(task.cfg, task.n_train(), task.validates)
    train = resolved.train
    assert (train.batch_size, train.max_epochs, train.warmup_steps, train.patience) == (32, 10, 0, 3)


def test_small_classification_sets_get_max_pooling_and_light_augmentation() -> None:
    from seqarena.config import build
    from seqarena.registry import get_task

    def resolved(data: str, **task: object) -> object:
        cfg = build({"task": {"name": "classify", "data": data, **task}, "model": {"name": "gru"}})
        return get_task("classify")(cfg).cfg.task

    small = resolved("GunPoint")
    assert (small.pooling, small.jitter, small.scaling) == ("max", 0.2, 0.1)
    given = resolved("GunPoint", pooling="last", jitter=0.0)
    assert (given.pooling, given.jitter, given.scaling) == ("last", 0.0, 0.1)
    large = resolved("smnist-rows")  # 8,000 training images
    assert (large.pooling, large.jitter, large.scaling) == ("mean", 0.0, 0.0)
