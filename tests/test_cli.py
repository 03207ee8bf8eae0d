"""The CLI as a user meets it: exit codes, one-line errors, nothing half-written, exact --resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

SMALL = [
    "--data",
    "synthetic",
    "--set",
    "task.data_args.length=1500",
    "--set",
    "task.lookback=48",
    "--set",
    "task.horizon=12",
    "--set",
    "model.d_model=32",
    "--set",
    "train.progress=false",
]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "seqarena", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def assert_clean_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--data", "nope/missing.csv"], "does not exist"),
        (["--data", "ETTh9"], "unknown dataset"),
        (["--model", "lstmm"], "did you mean 'lstm'"),
        (["--set", "train.lr=fast"], "train.lr='fast'"),
        (["--set", "model.num_heads=2"], "unknown option 'model.num_heads'"),
        (["--set", "task.lookback=5000"], "fewer than task.lookback"),
        (["--task", "translate"], "unknown task 'translate'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "run"
    assert_clean_error(cli("train", *args, "--out", str(out)), fragment)
    assert not out.exists()


def test_bad_csvs_through_the_cli(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_clean_error(cli("train", "--data", str(empty), "--out", str(tmp_path / "a")), "is empty")
    text = tmp_path / "text.csv"
    text.write_text("date,a,b\n" + "".join(f"2020-01-{d:02d},{d},x{d}\n" for d in range(1, 29)))
    assert_clean_error(cli("train", "--data", str(text), "--out", str(tmp_path / "b")), "non-numeric column(s) 'b'")
    gaps = tmp_path / "gaps.csv"
    rows = [f"{t},{'' if i == 7 else i % 24}" for i, t in enumerate(pd.date_range("2020", periods=400, freq="h"))]
    gaps.write_text("date,load\n" + "\n".join(rows) + "\n")
    common = ["--data", str(gaps), "--model", "linear", "--set", "task.lookback=24", "--set", "task.horizon=6"]
    assert_clean_error(cli("train", *common, "--out", str(tmp_path / "c")), "task.fill=interpolate")
    assert not (tmp_path / "c").exists()
    done = cli(
        "train", *common, "--set", "task.fill=interpolate", "--set", "train.max_epochs=1", "--out", str(tmp_path / "d")
    )
    assert done.returncode == 0, done.stderr


def test_train_evaluate_predict_round_trip(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = cli("train", *SMALL, "--model", "gru", "--set", "train.max_epochs=2", "--out", str(run))
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout)["test"]
    evaluated = cli("evaluate", str(run), "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["test"]["mse"] == pytest.approx(trained["mse"], rel=1e-6)
    from seqarena.data.synthetic import generate

    series = generate(length=300, channels=3)
    frame = pd.DataFrame(series.values, columns=series.columns)
    frame.insert(0, "date", series.time)
    frame.to_csv(tmp_path / "new.csv", index=False)
    predicted = cli("predict", str(run), "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "f.csv"))
    assert predicted.returncode == 0, predicted.stderr
    forecast = pd.read_csv(tmp_path / "f.csv", parse_dates=["date"])
    assert list(forecast.columns) == ["date", "s0", "s1", "s2"] and len(forecast) == 12
    assert forecast["date"].iloc[0] == series.time[-1] + pd.Timedelta(hours=1)
    assert forecast[["s0", "s1", "s2"]].abs().max().max() < 10 * frame[["s0", "s1", "s2"]].abs().max().max()
    frame.head(10).to_csv(tmp_path / "short.csv", index=False)
    assert_clean_error(
        cli("predict", str(run), "--input", str(tmp_path / "short.csv"), "--output", str(tmp_path / "g.csv")),
        "needs the last 48",
    )
    assert not (tmp_path / "g.csv").exists()
    assert_clean_error(cli("evaluate", str(tmp_path / "nothing")), "not a finished run")
    assert_clean_error(cli("train", *SMALL, "--out", str(run)), "already exists; pass --resume")


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    args = [
        *SMALL,
        "--model",
        "lstm",
        "--set",
        "train.max_epochs=4",
        "--set",
        "train.patience=null",
        "--set",
        "task.data_args.length=4000",
    ]
    whole = cli("train", *args, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqarena", "train", *args, "--out", str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (run / "checkpoint" / "latest.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # now inside epoch 2
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "results.json").exists()
    resumed = cli("train", *args, "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from the checkpoint after epoch" in resumed.stderr
    a = json.loads((tmp_path / "whole" / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    assert a["test"] == b["test"] and a["val"] == b["val"]
    strip = ("seconds", "samples_per_s")
    rows = [
        [{k: v for k, v in json.loads(line).items() if k not in strip} for line in (d / "metrics.jsonl").open()]
        for d in (tmp_path / "whole", run)
    ]
    assert rows[0] == rows[1] and len(rows[0]) == 4


def test_listing_commands() -> None:
    models = cli("models")
    assert models.returncode == 0 and all(n in models.stdout for n in ("lstm", "gru", "rnn", "transformer", "linear"))
    data = cli("datasets")
    assert data.returncode == 0 and "ETTh1" in data.stdout and "co2" in data.stdout


def test_language_model_train_evaluate_generate_and_bad_input(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "".join(f"line {i % 7} of a small corpus, said the {['cat', 'dog'][i % 2]}.\n" for i in range(600))
    )
    run = tmp_path / "bpe"
    lm = ["--task", "lm", "--data", str(corpus), "--model", "gru", "--set", "train.max_epochs=4"]
    lm += ["--set", "train.batch_size=8", "--set", "train.lr=1e-2"]
    lm += ["--set", "task.block_size=32", "--set", "task.vocab_size=300", "--set", "train.progress=false"]
    proc = cli("train", *lm, "--tokenizer", "bpe", "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "tokenizer.json").read_text())["kind"] == "bpe"
    test = json.loads(cli("evaluate", str(run), "--split", "test").stdout)["test"]
    assert {"loss", "ppl", "bpc", "bits_per_token", "context"} <= set(test) and test["ppl"] < test["unigram_ppl"]
    proc = cli("generate", str(run), "--prompt", "line 3", "--max-new-tokens", "40", "--temperature", "0.7")
    assert proc.returncode == 0 and proc.stdout.startswith("line 3") and len(proc.stdout) > len("line 3\n")
    assert "tokens/s" in proc.stderr and "threads" in proc.stderr
    proc = cli("generate", str(run), "--prompt", "zebra ünïcode 🐈", "--max-new-tokens", "5", "--num-samples", "2")
    assert proc.returncode == 0 and "--- sample 2 ---" in proc.stdout  # BPE encodes any text
    assert_clean_error(cli("predict", str(run), "--input", str(corpus), "--output", str(tmp_path / "p.csv")), "lm run")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_clean_error(cli("train", "--task", "lm", "--data", str(empty), "--out", str(tmp_path / "e")), "is empty")
    bi = ["--task", "lm", "--data", str(corpus), "--set", "model.bidirectional=true", "--out", str(tmp_path / "bi")]
    assert_clean_error(cli("train", *bi), "bidirectional")
    assert not (tmp_path / "e").exists() and not (tmp_path / "bi").exists()


def test_a_second_process_on_a_run_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path: Path) -> None:
    from seqarena.lock import RunLock

    args = [*SMALL, "--model", "lstm", "--set", "train.max_epochs=500", "--set", "train.patience=null"]
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqarena", "train", *args, "--out", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while not (run / "checkpoint" / "latest.json").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        second = cli("train", *args, "--out", str(run), "--resume")
        assert proc.poll() is None, "the first run ended before the second one tried"
        assert_clean_error(second, "is being trained by process")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (run / ".lock").exists()  # left behind by the killed process, but its OS lock went with it
    with RunLock(run):
        assert str(os.getpid()) in (run / ".lock").read_text()
    assert not (run / ".lock").exists()
