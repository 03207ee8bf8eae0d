"""The built-in catalogue holds: every registered dataset that is available offline (with SEQARENA_DATA_DIR at
the shared data, the embedded and generated ones, the UCR/UEA sets inside aeon) trains a tiny model with the
task's defaults, end to end, to finite metrics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import seqarena
from seqarena.data import labelled, pairs, registry
from seqarena.errors import SeqarenaError
from seqarena.registry import get_task

OFFLINE = ("data dir", "cached", "embedded", "generated", "aeon", "installed")
TINY = {"max_epochs": 1, "max_steps": 2, "batch_size": 8, "progress": False, "patience": None}


def _offline() -> list[tuple[str, str]]:
    rows = [*registry.listing(), *labelled.listing(), *pairs.listing()]
    return [(row[1], row[0]) for row in rows if row[6] in OFFLINE]


CATALOGUE = _offline()


def test_the_catalogue_lists_every_task() -> None:
    assert {task for task, _ in CATALOGUE} == {"forecast", "lm", "classify", "seq2seq"}


def test_a_regression_archive_is_refused_not_classified(tmp_path: Path) -> None:
    """aeon ships regression sets (continuous targets) beside the classification ones: never read as classes."""
    assert "Covid3Month" not in {name for _, name in CATALOGUE}
    with pytest.raises(SeqarenaError, match="regression problem"):
        seqarena.train({"task": {"name": "classify", "data": "Covid3Month"}}, tmp_path / "r", log=lambda _: None)


@pytest.mark.parametrize(("task", "name"), CATALOGUE, ids=[f"{t}-{n}" for t, n in CATALOGUE])
def test_every_offline_dataset_trains_with_the_defaults(task: str, name: str, tmp_path: Path) -> None:
    model = {"name": "gru", "d_model": 16, "num_layers": 1}  # an adaptive softmax splits the width by 4 per cluster
    result = seqarena.train({"task": {"name": task, "data": name}, "model": model, "train": TINY}, tmp_path / "r",
                            log=lambda _: None)  # fmt: skip
    test = result.results["test"]
    metric = get_task(task).metric.key
    assert math.isfinite(test[metric]) and math.isfinite(test["loss"])
