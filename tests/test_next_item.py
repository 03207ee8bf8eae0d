"""Next-item prediction: the leave-one-out split, ranking metrics against hand-counted ranks, the task contract on
an interaction table, real learning against the most-popular baseline, the refusals, and the arena."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from seqarena.config import build
from seqarena.data.interactions import synthetic_sessions
from seqarena.errors import ConfigError, DataError
from seqarena.run import train
from seqarena.tasks.next_item import NextItemTask, _ranking
from seqarena.testing import check_task

QUIET = {"log": lambda _: None}


def table(path: Path, users: int = 150) -> Path:
    data = synthetic_sessions(users=users, items=60, seed=1)
    rows = [(u, item, t) for u, seq in zip(data.users, data.sequences, strict=True) for t, item in enumerate(seq)]
    frame = pd.DataFrame(rows, columns=["user", "item", "time"]).sample(frac=1.0, random_state=0)  # shuffled rows
    frame.to_csv(path, index=False)
    return path


def test_leave_one_out_targets_the_last_items_in_time_order(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user": ["a"] * 5 + ["b"] * 4, "item": list("tpqrs") + list("tqsp"),
                          "time": [5, 1, 2, 3, 4, 1, 2, 3, 4]})  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = build({"task": {"name": "next_item", "data": str(tmp_path / "t.csv"), "time_column": "time"},
                 "model": {"name": "gru", "d_model": 8}})  # fmt: skip
    task = NextItemTask(cfg)
    name = {i + 2: item for i, item in enumerate(task.items)} | {-1: "?", 1: "?"}  # never seen in training
    assert [name[int(t)] for t in task.eval_sets["test"][1]] == ["t", "p"]  # a's last (time 5) and b's last
    assert [name[int(t)] for t in task.eval_sets["val"][1]] == ["?", "?"]  # s only ever comes third from last
    assert [name[int(i)] for i in task.eval_sets["test"][0][0]] == list("pqr?")


def test_ranking_metrics_count_ranks_from_zero() -> None:
    m = _ranking(torch.tensor([0, 1, 9, 10]), 10)
    assert m["hit_rate"] == 0.75 and m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11) / 4)
    assert m["ndcg"] == pytest.approx(
        (1 + 1 / torch.log2(torch.tensor(3.0)).item() + 1 / torch.log2(torch.tensor(11.0)).item()) / 4
    )


def test_the_next_item_task_passes_the_task_contract(tmp_path: Path) -> None:
    data = table(tmp_path / "interactions.csv")
    check_task("next_item", {"data": str(data), "time_column": "time"}, predict_input=data, tmp_dir=tmp_path / "run")


def test_a_sequence_model_beats_the_most_popular_items(tmp_path: Path) -> None:
    raw = {"task": {"name": "next_item"}, "model": {"name": "gru", "d_model": 32},
           "train": {"max_epochs": 8, "lr": 1e-2, "seed": 0, "progress": False}}  # fmt: skip
    test = train(raw, tmp_path / "run", **QUIET).results["test"]
    assert test["ndcg"] > 2 * test["popular_ndcg"] and test["hit_rate"] > 0.5, test


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    data = table(tmp_path / "t.csv", 20)
    with pytest.raises(DataError, match="no column 'customer'"):
        train({"task": {"name": "next_item", "data": str(data), "user_column": "customer"}, "model": {"name": "gru"}},
              tmp_path / "a", **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="cannot serve task 'next_item'"):
        train({"task": {"name": "next_item"}, "model": {"name": "gru", "bidirectional": True}}, tmp_path / "b", **QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_next_item_in_the_arena(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    spec = parse({"task": {"name": "next_item", "data": str(table(tmp_path / "t.csv")), "time_column": "time"},
                  "models": "gru,lstm", "budget": {"params": "10k", "epochs": 3}, "seeds": 1, "workers": 1,
                  "train": {"lr": 1e-2}})  # fmt: skip
    report = compare(spec, tmp_path / "arena", log=lambda _: None)
    board = collect(tmp_path / "arena", None)[1][0]["board"]
    assert {b["label"] for b in board} == {"gru", "lstm"} and all(0 <= b["test_ndcg"] <= 1 for b in board)
    assert "most popular training items" in report.read_text(encoding="utf-8")
