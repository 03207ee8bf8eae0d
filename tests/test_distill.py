"""Knowledge distillation (train.teacher): the matching loss, a tagger and a language model that learn from their
teacher alone (alpha 1: the labels are never used), forecasts distilled from a teacher, and the refusals (other
data, another task, a task that cannot distil) before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seqarena.errors import ConfigError, SeqarenaError
from seqarena.run import train
from seqarena.training.distill import matching_loss

QUIET = {"log": lambda _: None}
TAG = {"name": "tag", "data": "synthetic-ner"}
FAST = {"max_epochs": 6, "lr": 5e-3, "seed": 0, "progress": False}


def test_matching_loss_is_zero_for_equal_outputs_and_scales_with_the_temperature() -> None:
    logits = torch.randn(4, 5)
    assert float(matching_loss(logits, logits, "logits", 2.0, None)) == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(4, 5)
    kl1 = matching_loss(logits * 2, other * 2, "logits", 2.0, None)
    kl2 = matching_loss(logits, other, "logits", 1.0, None)
    assert float(kl1) == pytest.approx(4 * float(kl2), rel=1e-5)  # same softened distributions, times T^2
    mask = torch.tensor([[True, False]])
    a, b = torch.zeros(1, 2, 3), torch.tensor([[[1.0, 1.0, 1.0], [9.0, 9.0, 9.0]]])
    assert float(matching_loss(a, b, "values", 1.0, mask)) == pytest.approx(1.0)  # the masked step is left out


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "run"
    train({"task": TAG, "model": {"name": "gru", "d_model": 32, "bidirectional": True}, "train": FAST}, out, **QUIET)
    return out


def test_a_student_learns_from_its_teacher_alone(teacher: Path, tmp_path: Path) -> None:
    student = {"name": "gru", "d_model": 16, "bidirectional": True}
    run = train({"task": TAG, "model": student, "train": {**FAST, "teacher": str(teacher), "distill_alpha": 1.0}},
                tmp_path / "student", **QUIET)  # fmt: skip
    test = run.results["test"]
    assert test["f1"] > 0.9 and test["f1"] > test["baseline_f1"] + 0.5  # the labels played no part
    info = json.loads((tmp_path / "student" / "run.json").read_text())
    assert info["teacher"]["model"] == "gru" and info["teacher"]["alpha"] == 1.0


def test_a_teacher_on_other_data_or_another_task_is_refused_before_anything_is_written(
    teacher: Path, tmp_path: Path
) -> None:
    other = {**TAG, "split_seed": 1}  # another split: other training values
    with pytest.raises(ConfigError, match="trained on other values"):
        train({"task": other, "model": {"name": "gru", "d_model": 8}, "train": {**FAST, "teacher": str(teacher)}},
              tmp_path / "a", **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="is a tag run"):
        train({"task": {"name": "forecast", "data": "co2"}, "model": {"name": "gru", "d_model": 8},
               "train": {**FAST, "teacher": str(teacher)}}, tmp_path / "b", **QUIET)  # fmt: skip
    with pytest.raises(SeqarenaError, match="not a finished run"):
        train({"task": TAG, "model": {"name": "gru", "d_model": 8}, "train": {**FAST, "teacher": str(tmp_path)}},
              tmp_path / "c", **QUIET)  # fmt: skip
    with pytest.raises(ConfigError, match="train.distill_alpha"):
        train({"task": TAG, "model": {"name": "gru", "d_model": 8}, "train": {**FAST, "distill_alpha": 0.9}},
              tmp_path / "d", **QUIET)  # fmt: skip
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_forecasts_distil_and_a_task_that_cannot_says_so(tmp_path: Path) -> None:
    task = {"name": "forecast", "data": "co2", "lookback": 24, "horizon": 4}
    tr = {"max_epochs": 2, "progress": False, "seed": 0}
    train({"task": task, "model": {"name": "lstm", "d_model": 16}, "train": tr}, tmp_path / "t", **QUIET)
    run = train({"task": task, "model": {"name": "gru", "d_model": 8}, "train": {**tr, "teacher": str(tmp_path / "t")}},
                tmp_path / "s", **QUIET)  # fmt: skip
    assert run.results["test"]["mse"] > 0
    with pytest.raises(ConfigError, match="task 'next_item' cannot distil"):
        train({"task": {"name": "next_item"}, "model": {"name": "gru", "d_model": 8},
               "train": {**tr, "teacher": str(tmp_path / "t")}}, tmp_path / "n", **QUIET)  # fmt: skip
    assert not (tmp_path / "n").exists()


def test_a_language_model_learns_from_its_teacher_alone(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat.\nthe dog sat on the log.\n" * 400, encoding="utf-8")
    lm = {"name": "lm", "data": str(corpus), "block_size": 16, "batching": "blocks"}
    tr = {"max_epochs": 2, "batch_size": 16, "lr": 1e-2, "progress": False, "seed": 0}
    train({"task": lm, "model": {"name": "gru", "d_model": 32}, "train": tr}, tmp_path / "t", **QUIET)
    student = {**tr, "teacher": str(tmp_path / "t"), "distill_alpha": 1.0}
    run = train({"task": lm, "model": {"name": "gru", "d_model": 16}, "train": student}, tmp_path / "s", **QUIET)
    test = run.results["test"]
    assert test["ppl"] < 0.5 * test["unigram_ppl"], test  # the labels were never used
    with pytest.raises(ConfigError, match="set task.batching=blocks"):
        train({"task": {**lm, "batching": "stream"}, "model": {"name": "gru", "d_model": 8},
               "train": {**tr, "teacher": str(tmp_path / "t")}}, tmp_path / "s2", **QUIET)  # fmt: skip
    assert not (tmp_path / "s2").exists()


def test_a_translation_model_learns_from_its_teacher_alone(tmp_path: Path) -> None:
    """Word-level distillation: the student matches the teacher's next-token distributions, never the labels."""
    task = {"name": "seq2seq", "data": "synthetic-reverse", "data_args": {"n": 1500, "length": 6}}
    tr = {"max_epochs": 6, "lr": 5e-3, "batch_size": 32, "patience": None, "progress": False}
    teacher = {"name": "gru", "d_model": 48, "num_layers": 1}
    train({"task": {**task, "attention": "bahdanau"}, "model": teacher, "train": tr}, tmp_path / "t", **QUIET)
    student = {**tr, "teacher": str(tmp_path / "t"), "distill_alpha": 1.0}
    run = train({"task": task, "model": {"name": "transformer", "d_model": 32, "num_layers": 2},
                 "train": {**student, "lr": 2e-3}}, tmp_path / "s", **QUIET)  # fmt: skip
    assert run.results["test"]["exact_match"] >= 0.6, run.results["test"]
    other = {**task, "min_freq": 100_000}  # the same texts, a vocabulary of <unk> only
    with pytest.raises(ConfigError, match="its vocabularies differ"):
        train({"task": other, "model": teacher, "train": student}, tmp_path / "x", **QUIET)
    assert not (tmp_path / "x").exists()
