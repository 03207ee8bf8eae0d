"""Malformed input, as a careful new user would try it, across every task and command: each case must exit with
code 2, print one readable line (no traceback) and leave no new file behind. The inputs are generated here.

The command runs in-process (`seqarena.cli.main`, what the `seqarena` script calls), so a case costs no
interpreter start; an exception escaping it is a traceback a user would see, and fails the case."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqarena
from seqarena.cli import main

FAST = ["--set", "train.max_epochs=1", "--set", "train.progress=false"]
FILE = ["--set", "task.lookback=24", "--set", "task.horizon=6", *FAST]
SMALL = ["--data", "synthetic", "--set", "task.data_args.length=400", "--set", "task.lookback=24",
         "--set", "task.horizon=6", *FAST]  # fmt: skip


def series(path: Path, n: int = 300, **edits: object) -> Path:
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "a": np.sin(np.arange(n) / 5.0),
                          "b": np.cos(np.arange(n) / 7.0)})  # fmt: skip
    for cell, value in edits.items():  # e.g. a_250="inf": column a, row 250
        col, row = cell.rsplit("_", 1)
        frame[col] = frame[col].astype(object)
        frame.loc[int(row), col] = value
    frame.to_csv(path, index=False)
    return path


def table(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished forecasting run and one language-model run to break."""
    root = tmp_path_factory.mktemp("runs")
    quiet = {"max_epochs": 1, "progress": False}
    task = {"data": "synthetic", "data_args": {"length": 400}, "lookback": 24, "horizon": 6}
    seqarena.train({"task": task, "model": {"name": "gru", "d_model": 8}, "train": quiet}, root / "fc", log=print)
    corpus = table(root / "corpus.txt", ["the cat sat on the mat and the dog ran off ."] * 200)
    lm = {"name": "lm", "data": str(corpus), "block_size": 16}
    seqarena.train({"task": lm, "model": {"name": "lstm", "d_model": 8}, "train": quiet}, root / "lm", log=print)
    return {"fc": root / "fc", "lm": root / "lm"}


def _synthetic_like(path: Path) -> Path:
    """New rows with the columns of the `fc` run's training data (the synthetic series: s0, s1, s2)."""
    frame = pd.DataFrame({f"s{i}": np.sin(np.arange(40) / (3 + i)) for i in range(3)})
    frame.insert(0, "date", pd.date_range("2025-01-01", periods=40, freq="h"))
    frame.to_csv(path, index=False)
    return path


def _forecast_files(d: Path) -> dict[str, Path]:
    bad_time = series(d / "badtime.csv")
    text = bad_time.read_text().splitlines()
    text[5] = "not-a-date" + text[5][text[5].index(",") :]
    bad_time.write_text("\n".join(text) + "\n")
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("date,a,b\n")
    (d / "binary.csv").write_bytes(b"\x00\x01\xff\xfe" * 200)
    (d / "folder").mkdir()
    return {
        "clean": series(d / "clean.csv"),
        "fcinput": _synthetic_like(d / "fcinput.csv"),
        "inf": series(d / "inf.csv", a_150="inf"),
        "huge": series(d / "huge.csv", b_20=1e300),
        "nan": series(d / "nan.csv", a_10=float("nan")),
        "text": series(d / "text.csv", b_40="high"),
        "dup_test": series(d / "dup.csv", date_290="2024-01-13 01:00:00"),
        "back_val": series(d / "back.csv", date_230="2024-01-01 03:00:00"),
        "short": series(d / "short.csv", n=20),
        "badtime": bad_time,
    }


def _other_files(d: Path) -> dict[str, Path]:
    (d / "empty.txt").write_text("")
    (d / "null.txt").write_bytes(b"abc\x00\x00def" * 100)
    (d / "latin.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1") * 100)
    return {
        "tiny": table(d / "tiny.txt", ["ab"]),
        "ragged": table(d / "ragged.csv", ["label,t0,t1", "a,1,2", "b,1,2,3,4"]),
        "nolabel": table(d / "nolabel.csv", ["y,t0,t1", "a,1,2", "b,2,3"]),
        "oneclass": table(d / "oneclass.csv", ["label,t0,t1"] + ["a,1,2"] * 30),
        "hole": table(d / "hole.csv", ["label,t0,t1,t2"] + ["a,1,,3", "b,2,3,4"] * 15),
        "infcase": table(d / "infcase.csv", ["label,t0,t1,t2"] + ["a,1,inf,3", "b,2,3,4"] * 15),
        "onecol": table(d / "onecol.tsv", ["just one column"] * 30),
        "emptypairs": table(d / "emptypairs.tsv", [""]),
    }


CASES = [
    # option ranges and types
    ("train", SMALL + ["--set", "train.batch_size=0"], "train.batch_size=0"),
    ("train", SMALL + ["--set", "train.batch_size=-3"], "train.batch_size=-3"),
    ("train", SMALL + ["--set", "train.lr=0"], "train.lr=0"),
    ("train", SMALL + ["--set", "train.lr=-1e-3"], "train.lr"),
    ("train", SMALL + ["--set", "train.lr=.inf"], "train.lr=inf"),
    ("train", SMALL + ["--set", "train.max_epochs=0"], "train.max_epochs=0"),
    ("train", SMALL + ["--set", "train.max_steps=0"], "train.max_steps=0"),
    ("train", SMALL + ["--set", "train.max_seconds=0"], "train.max_seconds"),
    ("train", SMALL + ["--set", "train.clip_norm=-1"], "train.clip_norm"),
    ("train", SMALL + ["--set", "train.weight_decay=-0.1"], "train.weight_decay"),
    ("train", SMALL + ["--set", "train.optimizer=sgd", "--set", "train.momentum=1.5"], "train.momentum"),
    ("train", SMALL + ["--set", "train.beta2=1"], "train.beta2"),
    ("train", SMALL + ["--set", "train.warmup_steps=-1"], "train.warmup_steps"),
    ("train", SMALL + ["--set", "train.min_lr_ratio=2"], "train.min_lr_ratio"),
    ("train", SMALL + ["--set", "train.schedule=step", "--set", "train.gamma=0"], "train.gamma"),
    ("train", SMALL + ["--set", "train.patience=0"], "train.patience"),
    ("train", SMALL + ["--set", "train.threads=0"], "train.threads"),
    ("train", SMALL + ["--set", "train.seed=-1"], "train.seed"),
    ("train", SMALL + ["--set", "train.lr_mult.net=0"], "train.lr_mult"),
    ("train", SMALL + ["--set", "eval.batch_size=0"], "eval.batch_size"),
    ("train", SMALL + ["--set", "model.dropout=1"], "model.dropout"),
    ("train", SMALL + ["--set", "model.d_model=0"], "model.d_model"),
    ("train", SMALL + ["--set", "model.num_layers=0"], "model.num_layers"),
    ("train", SMALL + ["--set", "model.params=0"], "model.params"),
    ("train", SMALL + ["--set", "task.lookback=0"], "task.lookback=0"),
    ("train", SMALL + ["--set", "task.horizon=-2"], "task.horizon"),
    ("train", SMALL + ["--set", "train.lr=fast"], "train.lr='fast'"),
    ("train", SMALL + ["--set", "train.batch_size=3.5"], "train.batch_size"),
    ("train", SMALL + ["--set", "train.optimizer=adam"], "train.optimizer"),
    ("train", SMALL + ["--set", "train.precision=fp8"], "train.precision"),
    ("train", SMALL + ["--set", "task.features=X"], "task.features"),
    ("train", SMALL + ["--set", "train.lrr=1"], "did you mean 'train.lr'"),
    ("train", SMALL + ["--set", "trian.lr=1"], "must start with"),
    ("train", SMALL + ["--set", "train.lr"], "key=value"),
    ("train", SMALL + ["--model", "lstmm"], "did you mean 'lstm'"),
    ("train", SMALL + ["--task", "translate"], "unknown task 'translate'"),
    # options the run cannot honour
    ("train", SMALL + ["--set", "train.momentum=0.5"], "train.momentum"),
    ("train", SMALL + ["--set", "train.optimizer=sgd", "--set", "train.beta2=0.9"], "train.beta2"),
    ("train", SMALL + ["--set", "train.schedule=constant", "--set", "train.min_lr_ratio=0.1"], "min_lr_ratio"),
    ("train", SMALL + ["--set", "train.gamma=0.1"], "train.gamma"),
    ("train", SMALL + ["--model", "linear", "--set", "task.head=flatten"], "task.head"),
    ("train", SMALL + ["--model", "linear", "--set", "train.grad_checkpointing=true"], "grad_checkpointing"),
    ("train", ["--task", "lm", "--model", "lstm", "--set", "model.bidirectional=true"], "cannot serve task 'lm'"),
    ("train", ["--task", "lm", "--model", "linear"], "it is a forecaster"),
    ("train", ["--task", "classify", "--model", "last_value"], "it is a forecaster"),
    ("train", ["--task", "seq2seq", "--data", "synthetic-reverse", "--model", "tcn"], "no encoder-decoder"),
    (
        "train",
        ["--task", "seq2seq", "--data", "synthetic-reverse", "--model", "transformer", "--set", "task.attention=luong"],
        "task.attention",
    ),  # fmt: skip
    ("train", ["--task", "seq2seq", "--data", "synthetic-reverse", "--set", "task.beam=0"], "task.beam"),
    ("train", ["--set", "model.tie_weights=true"], "applies to task.name=lm"),
    # forecasting data
    ("train", ["--data", "nope/missing.csv"], "does not exist"),
    ("train", ["--data", "ETTh9"], "unknown dataset"),
    ("train", ["--data", "{d}/folder"], "is a folder"),
    ("train", ["--data", "{d}/empty.csv"], "is empty"),
    ("train", ["--data", "{d}/header.csv"], "no data rows"),
    ("train", ["--data", "{d}/binary.csv"], "{d}/binary.csv"),
    ("train", ["--data", "{inf}", *FILE], "row 152"),
    ("train", ["--data", "{huge}", *FILE], "row 22"),
    ("train", ["--data", "{nan}", *FILE], "task.fill"),
    ("train", ["--data", "{text}", *FILE], "non-numeric"),
    ("train", ["--data", "{dup_test}", *FILE], "test split"),
    ("train", ["--data", "{back_val}", *FILE], "val split"),
    ("train", ["--data", "{short}", *FILE], "fewer than task.lookback"),
    ("train", ["--data", "{badtime}", *FILE], "is not a date"),
    ("train", ["--data", "{clean}", "--set", "task.time_column=when"], "no column 'when'"),
    ("train", ["--data", "{clean}", "--set", "task.target=zz", "--set", "task.features=S"], "task.target 'zz'"),
    ("train", ["--task", "lm", "--data", "ETTh1"], "not a lm one"),
    ("train", ["--task", "classify", "--data", "ETTh1"], "ETTh1"),
    # text corpora
    ("train", ["--task", "lm", "--data", "{d}/empty.txt"], "empty"),
    ("train", ["--task", "lm", "--data", "{d}/null.txt"], "null.txt"),
    ("train", ["--task", "lm", "--data", "{d}/latin.txt"], "utf-8"),
    ("train", ["--task", "lm", "--data", "{tiny}"], "tiny.txt"),
    ("train", ["--task", "lm", "--data", "tinyshakespeare", "--set", "task.block_size=0"], "task.block_size"),
    ("train", ["--task", "lm", "--data", "{tiny}", "--set", "task.tokenizer=morse"], "task.tokenizer"),
    # labelled tables
    ("train", ["--task", "classify", "--data", "{ragged}"], "ragged"),
    ("train", ["--task", "classify", "--data", "{nolabel}"], "no label column"),
    ("train", ["--task", "classify", "--data", "{oneclass}"], "only one class"),
    ("train", ["--task", "classify", "--data", "{hole}"], "hole.csv"),
    ("train", ["--task", "classify", "--data", "{infcase}"], "infinite or overflowing"),
    ("train", ["--task", "classify", "--data", "NoSuchArchive"], "unknown classification dataset"),
    ("train", ["--task", "classify", "--set", "task.pooling=median"], "task.pooling"),
    ("train", ["--task", "classify", "--set", "task.split=[0.5,0.5]"], "task.split"),
    ("train", ["--task", "classify", "--set", "task.folds=3", "--set", "task.fold=5"], "fold < folds"),
    ("train", ["--task", "classify", "--set", "task.val_fraction=1"], "task.val_fraction"),
    (
        "train",
        ["--task", "classify", "--set", "task.val_fraction=0", "--set", "train.patience=3"],
        "train.patience=null",
    ),
    # sentence pairs
    ("train", ["--task", "seq2seq", "--data", "{onecol}"], "onecol.tsv"),
    ("train", ["--task", "seq2seq", "--data", "{emptypairs}"], "emptypairs.tsv"),
    ("train", ["--task", "seq2seq", "--data", "klingon-eng"], "klingon-eng"),
    # where a run goes
    ("train", SMALL + ["--out", "{clean}"], "is a file"),
    ("train", SMALL + ["--out", "{fc}"], "already exists"),
    ("train", SMALL + ["--resume"], "--resume needs --out"),
    ("train", SMALL + ["--out", "{d}", "--resume"], "no run config.yaml"),
    # finished runs
    ("evaluate", ["{d}/nothing-here"], "not a finished run"),
    ("evaluate", ["{d}/folder"], "not a finished run"),
    ("evaluate", ["{fc}", "--split", "dev"], "--split"),
    ("predict", ["{fc}", "--input", "{d}/missing.csv", "--output", "{d}/p.csv"], "does not exist"),
    ("predict", ["{fc}", "--input", "{d}/header.csv", "--output", "{d}/p.csv"], "no data rows"),
    ("predict", ["{fc}", "--input", "{fcinput}", "--output", "{d}/folder"], "is a folder"),
    ("predict", ["{fc}", "--input", "{fcinput}", "--output", "{clean}/x.csv"], "is a file, not a folder"),
    ("predict", ["{fc}", "--input", "{inf}", "--output", "{d}/p.csv"], "row 152"),
    ("predict", ["{lm}", "--input", "{inf}", "--output", "{d}/p.csv"], "has no predict"),
    ("generate", ["{fc}"], "needs a language model"),
    ("generate", ["{lm}", "--num-samples", "0"], "--num-samples"),
    ("generate", ["{lm}", "--prompt", "Zebra!"], "Z"),
    ("translate", ["{fc}", "hello"], "translate needs a sequence-to-sequence run"),
    ("cv", ["--data", "GunPoint", "--folds", "1"], "at least 2 folds"),
    ("cv", ["--set", "task.name=forecast"], "has no folds"),
    # arenas
    ("compare", ["--seeds", "0", "--out", "{d}/arena"], "seeds"),
    ("compare", ["--budget", "epochs=0", "--out", "{d}/arena"], "budget.epochs"),
    ("compare", ["--budget", "flops=1", "--out", "{d}/arena"], "unknown budget"),
    ("compare", ["--models", "rnn,lstmm", "--out", "{d}/arena"], "did you mean 'lstm'"),
    ("compare", ["--workers", "0", "--out", "{d}/arena"], "workers"),
    ("compare", ["--set", "model.d_model=8", "--out", "{d}/arena"], "per-model options"),
    ("compare", ["--data", "{inf}", "--models", "gru", "--out", "{d}/arena"], "row 152"),
    ("compare", ["--models", "gru", "--out", "{fc}"], "holds no arena.yaml"),
    ("results", ["{d}/folder"], "not an arena directory"),
    ("report", ["{fc}"], "not an arena directory"),
]


def _format(args: list[str], paths: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("command", "args", "fragment"), CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_malformed_input_is_one_line_exit_2_and_leaves_nothing(
    command: str, args: list[str], fragment: str, tmp_path: Path, runs: dict[str, Path], capsys, monkeypatch
) -> None:
    d = tmp_path / "inputs"
    d.mkdir()
    paths = {"d": d, **_forecast_files(d), **_other_files(d), **runs}
    watched = {root: _files(root) for root in (tmp_path, *runs.values())}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["seqarena", command, *_format(args, paths)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    assert _format([fragment], paths)[0] in lines[0], lines[0]
    for root, before in watched.items():
        assert _files(root) == before, f"{root}: new files {_files(root) - before}"


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 80
    assert {c[0] for c in CASES} >= {"train", "evaluate", "predict", "generate", "translate", "cv", "compare"}


FC_ARGS = ["--data", "synthetic", "--set", "task.data_args.length=400", "--set", "task.lookback=24", "--set",
           "task.horizon=6", "--model", "gru", "--set", "model.d_model=8", *FAST]  # fmt: skip


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _resumable(run: Path) -> Path:
    (run / "results.json").unlink()  # as if killed after the last checkpoint
    return run


DAMAGE = {  # name: (damage the copied run in place, command on it, fragment of the one-line error)
    "weights truncated": (lambda r: _truncate(r / "model.safetensors"), ["evaluate", "{run}"], "is damaged"),
    "weights garbage": (
        lambda r: (r / "model.safetensors").write_bytes(b"\x93NUMPY" + bytes(300)),
        ["evaluate", "{run}"],
        "is damaged",
    ),  # fmt: skip
    "config width edited": (
        lambda r: _edit(r / "config.yaml", "d_model: 8", "d_model: 16"),
        ["evaluate", "{run}"],
        "with shape",
    ),  # fmt: skip
    "config model edited": (
        lambda r: [_edit(r / "config.yaml", a, b) for a, b in (("name: gru", "name: lstm"), ("  kernel: auto\n", ""))],
        ["evaluate", "{run}"],
        "where config.yaml builds",
    ),  # fmt: skip
    "config not yaml": (
        lambda r: (r / "config.yaml").write_text("task: [unclosed\n"),
        ["evaluate", "{run}"],
        "not valid YAML",
    ),  # fmt: skip
    "config unknown key": (
        lambda r: _edit(r / "config.yaml", "d_model: 8", "d_model: 8\n  widht: 3"),
        ["evaluate", "{run}"],
        "unknown option 'model.widht'",
    ),  # fmt: skip
    "task.json garbage": (
        lambda r: (r / "task.json").write_text("{not json"),
        ["evaluate", "{run}"],
        "not valid JSON",
    ),  # fmt: skip
    "task.json emptied": (lambda r: (r / "task.json").write_text("{}"), ["evaluate", "{run}"], "does not fit"),
    "task.json missing": (lambda r: (r / "task.json").unlink(), ["evaluate", "{run}"], "no task.json"),
    "predict on damaged weights": (
        lambda r: _truncate(r / "model.safetensors"),
        ["predict", "{run}", "--input", "{fcinput}", "--output", "{d}/p.csv"],
        "is damaged",
    ),  # fmt: skip
    "pointer outside the run": (
        lambda r: (_resumable(r) / "checkpoint" / "latest.json").write_text('{"folder": "../.."}'),
        ["train", *FC_ARGS, "--out", "{run}", "--resume"],
        "points to '../..'",
    ),  # fmt: skip
    "pointer garbage": (
        lambda r: (_resumable(r) / "checkpoint" / "latest.json").write_text("]]"),
        ["train", *FC_ARGS, "--out", "{run}", "--resume"],
        "latest.json is not valid",
    ),  # fmt: skip
    "checkpoint weights truncated": (
        lambda r: _truncate(_resumable(r) / "checkpoint" / "epoch-00001" / "model.safetensors"),
        ["train", *FC_ARGS, "--out", "{run}", "--resume"],
        "checkpoint in",
    ),  # fmt: skip
    "resume with other settings": (
        _resumable,
        ["train", *FC_ARGS, "--set", "train.lr=0.1", "--out", "{run}", "--resume"],
        "other settings (train.lr)",
    ),  # fmt: skip
}
LM_DAMAGE = {
    "tokenizer garbage": (
        lambda r: (r / "tokenizer.json").write_text("[1, 2"),
        ["generate", "{run}"],
        "tokenizer.json is damaged",
    ),  # fmt: skip
    "tokenizer missing": (lambda r: (r / "tokenizer.json").unlink(), ["generate", "{run}"], "no tokenizer.json"),
}
ARENA_DAMAGE = {
    "results.db garbage": (
        lambda a: (a / "results.db").write_bytes(b"not a database at all" * 50),
        "cannot open the results store",
    ),  # fmt: skip
    "arena.yaml garbage": (lambda a: (a / "arena.yaml").write_text("models: [unclosed\n"), "not valid YAML"),
}


def _run_cli(args: list[str], capsys, monkeypatch) -> str:
    monkeypatch.setattr(sys, "argv", ["seqarena", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("case", [*DAMAGE, *LM_DAMAGE])
def test_a_damaged_run_is_named_with_its_fix(case: str, tmp_path: Path, runs: dict[str, Path], capsys, monkeypatch):
    import shutil

    damage, args, fragment = DAMAGE.get(case) or LM_DAMAGE[case]
    run = tmp_path / "run"
    shutil.copytree(runs["lm" if case in LM_DAMAGE else "fc"], run)
    damage(run)
    d = tmp_path / "inputs"
    d.mkdir()
    paths = {"run": run, "d": d, "fcinput": _synthetic_like(d / "fcinput.csv")}
    before = _files(tmp_path)
    line = _run_cli(_format(args, paths), capsys, monkeypatch)
    assert fragment in line, line
    assert _files(tmp_path) == before, _files(tmp_path) - before


@pytest.mark.parametrize("case", ARENA_DAMAGE)
def test_a_damaged_arena_is_named(case: str, tmp_path: Path, capsys, monkeypatch) -> None:
    arena = tmp_path / "arena"
    arena.mkdir()
    (arena / "arena.yaml").write_text("task: {data: co2}\nmodels: [{name: gru}]\nseeds: [0]\n")
    (arena / "results.db").write_bytes(b"")
    damage, fragment = ARENA_DAMAGE[case]
    damage(arena)
    for command in ("results", "report"):
        assert fragment in _run_cli([command, str(arena)], capsys, monkeypatch)
