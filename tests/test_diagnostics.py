"""The long-range diagnostic tasks (adding, copy memory, selective copy, MQAR, induction), the relative position
schemes (RoPE, ALiBi) and length extrapolation (`evaluate --lengths`, the arena's `lengths:`)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import seqarena
from seqarena.data import diagnostics as gen
from seqarena.errors import SeqarenaError
from seqarena.models.positions import alibi_slopes, rotate
from seqarena.run import evaluate_lengths
from seqarena.testing import check_task

TINY = {"n_train": 64, "n_val": 16, "n_test": 16}


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_adding_targets_are_the_sum_of_the_two_marked_values_and_predicting_one_scores_a_sixth() -> None:
    p = gen.adding(20_000, 50, _g())
    assert p.x.shape == (20_000, 50, 2) and torch.equal(p.x[..., 1].sum(1), torch.full((20_000,), 2.0))
    marked = (p.x[..., 0] * p.x[..., 1]).sum(1)
    torch.testing.assert_close(marked, p.y)
    first = p.x[..., 1].argmax(1)
    assert bool((first < 25).all()), "the first marker lies in the first half"
    assert abs(float(((p.y - 1) ** 2).mean()) - 1 / 6) < 0.005  # Var(U + U) = 2/12


def test_copy_memory_layout_and_its_memoryless_baseline() -> None:
    p = gen.copy_memory(8, 30, _g())
    assert p.x.shape == (8, 50)
    assert torch.equal(p.y[:, -10:], p.x[:, :10]) and bool((p.y[:, :-10] == 0).all())
    assert bool((p.x[:, 39] == 9).all()) and bool((p.x[:, 10:39] == 0).all())
    assert p.answers is not None and int(p.answers.sum()) == 80
    ref = seqarena.registry.get_task("copy_memory").reference(type("T", (), {"length": 1000})())
    assert math.isclose(ref["memoryless_xent"], 10 * math.log(8) / 1020)  # 0.0204 at T = 1000


def test_selective_copy_asks_for_the_symbols_in_their_order() -> None:
    p = gen.selective_copy(16, 40, 5, 10, _g())
    for row in range(16):
        placed = p.x[row, :40][p.x[row, :40] != 0]
        assert torch.equal(placed, p.y[row, 40:]) and bool((p.x[row, 40:] == 9).all())
    assert int(p.scored.sum()) == 16 * 5


def test_mqar_scores_the_value_after_each_queried_key() -> None:
    V, P = 64, 4
    p = gen.mqar(32, 40, P, V, _g())
    assert p.x.shape == p.y.shape == (32, 40) and int(p.scored.sum()) == 32 * P
    for row in range(32):
        pairs = {int(p.x[row, 2 * i]): int(p.x[row, 2 * i + 1]) for i in range(P)}
        assert all(k < V // 2 <= v for k, v in pairs.items())
        for t in p.scored[row].nonzero().flatten().tolist():
            assert pairs[int(p.x[row, t])] == int(p.y[row, t])
    again = gen.mqar(32, 40, P, V, _g())
    assert torch.equal(again.x, p.x), "generation is seeded"


def test_induction_answer_follows_the_first_trigger() -> None:
    p = gen.induction(16, 32, 8, _g())
    for row in range(16):
        first = int((p.x[row] == 0).nonzero()[0])
        assert first < 16 and int(p.x[row, -1]) == 0 and int(p.y[row, -1]) == int(p.x[row, first + 1])


@pytest.mark.parametrize(
    ("name", "task", "model"),
    [
        ("adding", {"length": 12}, None),
        ("copy_memory", {"length": 5}, None),
        ("selective_copy", {"length": 12, "tokens": 3}, None),
        ("mqar", {"length": 16, "pairs": 2, "vocab": 16}, None),
        ("induction", {"length": 12, "vocab": 8}, {"name": "transformer", "d_model": 8, "num_heads": 2}),
    ],
)
def test_every_diagnostic_passes_check_task(tmp_path: Path, name: str, task: dict, model: dict | None) -> None:
    results = check_task(name, {**task, **TINY}, model=model, tmp_dir=tmp_path)
    assert results["test"]


def test_a_next_token_diagnostic_refuses_a_bidirectional_model(tmp_path: Path) -> None:
    raw = {"task": {"name": "mqar", **TINY}, "model": {"name": "lstm", "bidirectional": True}}
    with pytest.raises(SeqarenaError, match="bidirectional"):
        seqarena.train(raw, tmp_path / "run")


def test_an_impossible_problem_size_is_a_config_error(tmp_path: Path) -> None:
    raw = {"task": {"name": "mqar", "length": 8, "pairs": 4, **TINY}, "model": {"name": "lstm"}}
    with pytest.raises(SeqarenaError, match="length >= 16"):
        seqarena.train(raw, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_lstm_learns_the_short_adding_problem(tmp_path: Path) -> None:
    """Real learning: at T = 10 a small LSTM gets far below the predict-1 baseline in a few seconds."""
    raw = {
        "task": {"name": "adding", "length": 10, "n_train": 2000, "n_val": 200, "n_test": 200},
        "model": {"name": "lstm", "d_model": 32, "num_layers": 1},
        "train": {"max_epochs": 12, "batch_size": 32, "lr": 5e-3, "patience": None, "seed": 0},
    }
    test = seqarena.train(raw, tmp_path / "run").results["test"]
    assert test["mse"] < 0.2 * test["constant_mse"], test


def test_alibi_slopes_are_the_papers() -> None:
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    six = alibi_slopes(6)  # not a power of two: 4 from 2^-2..., then every other of the 8-head set
    torch.testing.assert_close(six, torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]))


def test_rotary_scores_depend_only_on_the_distance() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(i: int, j: int) -> float:
        return float((rotate(q, torch.tensor([i])) * rotate(k, torch.tensor([j]))).sum())

    assert math.isclose(score(3, 1), score(103, 101), rel_tol=1e-4)
    assert not math.isclose(score(3, 1), score(3, 2), rel_tol=1e-3)


def test_a_run_is_scored_at_other_lengths(tmp_path: Path) -> None:
    raw = {
        "task": {"name": "induction", "length": 16, "vocab": 8, **TINY},
        "model": {"name": "transformer", "d_model": 8, "num_heads": 2, "positions": "learned", "max_len": 32},
        "train": {"max_epochs": 1},
    }
    seqarena.train(raw, tmp_path / "run")
    out = evaluate_lengths(tmp_path / "run", [16, 32, 64])
    assert set(out) == {16, 32, 64}
    assert 0 <= out[32]["accuracy"] <= 1 and out[16]["accuracy"] == seqarena.evaluate(tmp_path / "run")["accuracy"]
    assert "max_len" in out[64]["error"]  # past the learned position table: said, not a crash
    cli = [sys.executable, "-m", "seqarena", "evaluate", str(tmp_path / "run")]
    done = subprocess.run([*cli, "--lengths", "24,32"], capture_output=True, text=True, check=True)
    assert set(json.loads(done.stdout)["lengths"]) == {"24", "32"}
    bad = subprocess.run([*cli, "--lengths", "0,x"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_lengths_need_a_task_with_a_length(tmp_path: Path) -> None:
    from seqarena.arena.spec import expand, parse

    spec = parse({"task": {"name": "classify"}, "models": ["lstm"], "lengths": [64]})
    with pytest.raises(SeqarenaError, match="no sequence length"):
        expand(spec)
    with pytest.raises(SeqarenaError, match="distinct lengths"):
        parse({"task": {"name": "adding"}, "models": ["lstm"], "lengths": [64, 64]})


def test_the_arena_scores_every_run_at_its_lengths(tmp_path: Path) -> None:
    from seqarena.arena.results import collect

    arena = {
        "task": {"name": "induction", "length": 16, "vocab": 8, **TINY},
        "models": [{"name": "transformer", "d_model": 8, "num_heads": 2, "positions": "alibi"}, "lstm"],
        "budget": {"epochs": 1},
        "lengths": [32],
        "workers": 1,
    }
    seqarena.compare(arena, tmp_path / "arena")
    _, points = collect(tmp_path / "arena")
    board = points[0]["board"]
    assert all(0 <= line["test_accuracy@32"] <= 1 for line in board)
    md = (tmp_path / "arena" / "report.md").read_text()
    assert "accuracy @32" in md and "generated induction sequence of length 16" in md
