"""The task contract: every registered task passes seqarena.testing.check_task; a fifth task defined outside the
package (toy_task.py) runs through train, evaluate, predict, compare and the report with no change to seqarena;
and the package's structure keeps to its rules (no task dispatch outside tasks/, no import cycles, small files)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqarena
import toy_task
from seqarena.registry import get_task, task_names
from seqarena.testing import check_task

SRC = Path(seqarena.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    rng = np.random.default_rng(0)
    words = ["the cat", "a dog", "sees", "eats", "the end", "again"]
    path.write_text("".join(" ".join(rng.choice(words, 6)) + " .\n" for _ in range(400)), encoding="utf-8")
    return path


def _table(tmp_path: Path) -> Path:
    """A labelled table in long format: class a rises, class b falls."""
    rng = np.random.default_rng(0)
    rows = []
    for case in range(80):
        label = "ab"[case % 2]
        ramp = np.linspace(0, 1, 12) * (1 if label == "a" else -1) + rng.normal(0, 0.2, 12)
        rows += [{"id": case, "label": label, "x": v} for v in ramp]
    path = tmp_path / "table.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _series(tmp_path: Path) -> Path:
    t = np.arange(300)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=300, freq="h"), "y": np.sin(t / 6)})
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    return path


def test_every_builtin_task_passes_check_task(tmp_path: Path) -> None:
    series = _series(tmp_path)
    cases = {
        "forecast": ({"data": str(series), "lookback": 24, "horizon": 6}, {}, series),
        "lm": ({"data": str(_corpus(tmp_path)), "block_size": 16}, {}, None),
        "classify": ({"data": str(_table(tmp_path)), "id_column": "id"}, {}, _table(tmp_path)),
        "seq2seq": ({"data": "synthetic-reverse", "data_args": {"n": 300, "length": 5}}, {"max_epochs": 3}, None),
    }
    assert set(cases) <= set(task_names())
    for name, (task, train, predict_input) in cases.items():
        check_task(name, task, train=train, predict_input=predict_input, tmp_dir=tmp_path / name)


def test_a_word_model_with_an_adaptive_softmax_loads_back_with_its_token_order(tmp_path: Path) -> None:
    """The adaptive softmax orders tokens by training frequency; a loaded run must score exactly as trained."""
    task = {"data": str(_corpus(tmp_path)), "tokenizer": "word", "head": "adaptive", "cutoffs": [4], "block_size": 8}
    check_task("lm", task, model={"name": "lstm", "d_model": 8, "num_layers": 1}, tmp_dir=tmp_path / "run")


def test_a_task_from_outside_the_package_passes_check_task(tmp_path: Path) -> None:
    results = check_task(toy_task.ToyTask, {"n": 200}, tmp_dir=tmp_path)
    assert results["test"]["mse"] < results["test"]["mean_mse"]  # it learnt something


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEQARENA_PLUGINS": "toy_task", "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-m", "seqarena", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_a_task_from_outside_runs_through_the_cli_the_arena_and_the_report(tmp_path: Path) -> None:
    setting = ["--set", "model.d_model=8", "--set", "train.max_epochs=3", "--set", "task.n=200"]
    proc = _cli("train", "--task", "toy_mean", "--model", "gru", "--out", "run", *setting, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["test"]["mse"] > 0
    proc = _cli("evaluate", "run", "--split", "val", cwd=tmp_path)
    assert proc.returncode == 0 and "mae" in json.loads(proc.stdout)["val"], proc.stderr
    steps = pd.DataFrame({"id": np.repeat([7, 9], 16), "c0": np.linspace(0, 1, 32), "c1": 0.0})
    steps.to_csv(tmp_path / "new.csv", index=False)
    proc = _cli("predict", "run", "--input", "new.csv", "--output", "means.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_csv(tmp_path / "means.csv")["id"]) == [7, 9]
    proc = _cli("models", cwd=tmp_path)
    assert "toy_mean" in proc.stdout  # the model table lists the tasks each model serves

    spec = {
        "task": {"name": "toy_mean", "n": 200},
        "models": "gru,transformer",
        "budget": {"params": "2k", "epochs": 3},
        "seeds": 2,
        "workers": 2,  # spawned worker processes import the plugin the parent registered
    }
    report = seqarena.compare(spec, tmp_path / "arena", log=lambda _: None)
    html = report.read_text(encoding="utf-8")
    assert "toy_mean on random-walks" in html and "test MSE" in html
    assert "always predicting the training mean scores MSE" in html
    proc = _cli("results", "arena", cwd=tmp_path)
    assert proc.returncode == 0 and "gru" in proc.stdout and "transformer" in proc.stdout, proc.stderr


def test_models_a_task_cannot_use_are_refused_by_its_requirements(tmp_path: Path) -> None:
    from seqarena.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot serve task 'toy_mean': it is a forecaster"):
        seqarena.train({"task": {"name": "toy_mean"}, "model": {"name": "linear"}}, tmp_path / "x")
    with pytest.raises(ConfigError, match="cannot serve task 'lm'"):
        seqarena.train({"task": {"name": "lm"}, "model": {"name": "lstm", "bidirectional": True}}, tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The seqarena modules `path` imports anywhere (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up from this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def test_the_package_has_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_dispatch_on_task_names_outside_tasks_and_the_registries() -> None:
    """No `x == "lm"`, `name in ("forecast", ...)` or `{"classify": ...}` outside tasks/ and the registries: the
    rest of the package asks the task."""
    names = set(task_names())
    allowed = {SRC / "registry.py", SRC / "data" / "registry.py"}
    offences = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "tasks") or path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            consts: list[ast.AST] = []
            if isinstance(node, ast.Compare):
                consts = [node.left, *node.comparators]
                consts += [e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set)) for e in c.elts]
            elif isinstance(node, ast.Dict):
                consts = [k for k in node.keys if k is not None]
            hits = [c.value for c in consts if isinstance(c, ast.Constant) and c.value in names]
            offences += [f"{path.relative_to(SRC)}:{node.lineno}: {h!r}" for h in hits]
    assert not offences, offences


def test_every_source_file_stays_under_400_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_task_registry_is_the_only_list_of_tasks() -> None:
    for name in task_names():
        assert get_task(name).name == name
