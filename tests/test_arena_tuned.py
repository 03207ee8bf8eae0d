"""A tuned arena: every entrant gets the same number of trials before its seeds train on its best config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqarena.arena import spec as arena_spec
from seqarena.arena.runner import run_arena
from seqarena.arena.store import Store
from seqarena.comparison import compare
from seqarena.errors import ConfigError

pytest.importorskip("optuna", reason="seqarena[tune] is part of the dev install")

SPEC = {
    "task": {"data": "synthetic", "data_args": {"length": 700, "channels": 2}, "lookback": 24, "horizon": 6},
    "models": [{"name": "lstm", "d_model": 16}, {"name": "linear"}],
    "budget": {"epochs": 2, "tune": {"trials": 3}},
    "seeds": 2,
    "train": {"batch_size": 32, "threads": 1, "patience": None},
    "baselines": False,
    "workers": 1,
}


def test_every_entrant_is_tuned_alike_then_its_seeds_train_on_its_choice(tmp_path: Path) -> None:
    out = tmp_path / "arena"
    lines: list[str] = []
    compare(arena_spec.parse(json.loads(json.dumps(SPEC))), out, log=lines.append)
    chosen = json.loads((out / "tune" / "chosen.json").read_text())
    assert len(chosen) == 2 and all(c["trials"] == 3 for c in chosen.values())
    rows = list(Store(f"sqlite:///{out / 'results.db'}").rows().values())
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    for row in rows:
        pick = row["result"]["tuning"]
        assert pick is not None and row["config"]["train"]["lr"] == pytest.approx(pick["best_params"]["train.lr"])
        assert pick["best_value"] <= pick["default_value"]
    report = (out / "report.md").read_text()
    assert "Tuned: every trainable entrant had 3 trials" in report and "Ranking on val mse, best first" in report
    again: list[str] = []
    run_arena(arena_spec.parse(json.loads(json.dumps(SPEC))), out, log=again.append)  # the studies are complete
    assert any("4 already in the store, 0 to run" in line for line in again), again


def test_a_bad_tune_budget_is_refused() -> None:
    with pytest.raises(ConfigError, match="budget.tune"):
        arena_spec.parse({**SPEC, "budget": {"tune": {"trials": 0}}})
    with pytest.raises(ConfigError, match="unknown key"):
        arena_spec.parse({**SPEC, "budget": {"tune": {"trails": 3}}})
