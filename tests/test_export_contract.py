"""Export joins the model contract: every registered trainable model, for every task it serves, exports to ONNX
with ONNX Runtime parity (<= 1e-4 on a second shape, <= 1e-4 drift over 100 fed-back steps), or leaves out exactly
the graphs it declares it cannot trace. The dynamo exporter takes 5-70 s per graph on 2 cores, so the whole grid is
the slow tier; the fast tier runs a cross-section of the families and the declared cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tests.test_deploy import QUIET, corpus, sines

from seqarena.registry import get_model, get_task, model_names
from seqarena.run import train
from seqarena.testing import check_export

TASKS = ("forecast", "classify", "lm", "seq2seq")
FAST = {("forecast", "s4d"), ("forecast", "tcn"), ("classify", "mamba"), ("lm", "transformer"),
        ("lm", "linear_attention"), ("seq2seq", "gru")}  # fmt: skip


def grid() -> list[tuple[str, str]]:
    out = []
    for task in TASKS:
        task_cls = get_task(task)
        for name in model_names():
            cls = get_model(name)
            cfg = replace(cls.Config(), **task_cls.model_defaults(cls))  # a language model's backbone is causal
            cap = cls.capabilities_of(cfg)
            if cap.trainable and task_cls.requires.why_not(name, cap) is None:
                out.append((task, name))
    return out


def cases() -> list:
    return [pytest.param(t, m, marks=() if (t, m) in FAST else pytest.mark.slow, id=f"{t}-{m}") for t, m in grid()]


@pytest.mark.parametrize(("task", "model"), cases())
def test_every_model_exports_with_parity_or_declares_why_not(task: str, model: str, tmp_path: Path) -> None:
    data = {"forecast": "co2", "classify": str(sines(tmp_path / "s.csv")), "lm": str(corpus(tmp_path / "c.txt")),
            "seq2seq": "synthetic-reverse"}  # fmt: skip
    width = [] if get_model(model).kind == "forecaster" else ["model.d_model=16"]
    overrides = [f"task.name={task}", f"task.data={data[task]}", f"model.name={model}", *width]
    run = train({}, tmp_path / "run", overrides=[*overrides, "train.max_steps=2", *QUIET], log=lambda *a, **k: None)
    manifest = check_export(run.run_dir, tmp_path / "export")
    assert manifest["graphs"], manifest
    stateful = get_model(model).capabilities_of(run.config.model).stateful
    if task == "seq2seq" or (task != "forecast" and stateful):
        assert "step" in manifest["graphs"], manifest["refused"]
