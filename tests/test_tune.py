from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import seqarena
from seqarena.errors import ConfigError, SeqarenaError
from seqarena.tune import tune
from seqarena.tune.space import build_space, default_space

pytest.importorskip("optuna", reason="seqarena[tune] is part of the dev install")

TINY = {
    "task": {"data": "synthetic", "data_args": {"length": 700, "channels": 2}, "lookback": 24, "horizon": 6},
    "model": {"name": "lstm", "d_model": 16},
    "train": {"max_epochs": 3, "batch_size": 32, "progress": False, "threads": 1, "patience": None},
    "eval": {"batch_size": 256},
}
QUIET = {"log": lambda _: None}


def _config(**train: object) -> dict:
    cfg = json.loads(json.dumps(TINY))
    cfg["train"].update(train)
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tune") / "study"
    return out, tune(_config(), out, trials=8, **QUIET)


def test_a_study_runs_its_trials_prunes_and_beats_or_keeps_the_default(study: tuple[Path, dict]) -> None:
    out, result = study
    assert result["trials"] == 8 and result["complete"] + result["pruned"] + result["failed"] == 8
    assert result["pruned"] >= 1  # the median rule stopped some trial early
    assert result["rows"][0]["default"] and result["rows"][0]["params"]["train.lr"] == pytest.approx(1e-3)
    assert result["best_value"] <= result["default_value"]
    pruned = [r for r in result["rows"] if r["state"] == "pruned"]
    assert all(r["epochs"] < 3 for r in pruned)  # stopped before the last epoch
    for name in ("study.json", "trials.json", "best.yaml", "report.md", "history.svg"):
        assert (out / name).is_file(), name
    assert not list(out.glob("trials/*/checkpoint"))  # trial runs keep their results, not their checkpoints
    assert "## Trials" in (out / "report.md").read_text()


def test_best_yaml_is_a_run_config_that_reproduces_the_best_trial(study: tuple[Path, dict], tmp_path: Path) -> None:
    out, result = study
    run = seqarena.train(yaml.safe_load((out / "best.yaml").read_text()), tmp_path / "best", **QUIET)
    assert run.results["val"]["mse"] == pytest.approx(result["best_value"], rel=1e-9)


def test_layers_vary_at_the_given_configs_size(study: tuple[Path, dict]) -> None:
    out, result = study
    sizes = [json.loads((out / "trials" / f"{r['number']:04d}" / "run.json").read_text())["params"]
             for r in result["rows"] if r["state"] == "complete"]  # fmt: skip
    layers = {r["params"]["model.num_layers"] for r in result["rows"]}
    assert len(layers) > 1
    assert all(abs(n - sizes[0]) <= 0.05 * sizes[0] for n in sizes)  # widths solved for the default's size


def test_running_again_continues_the_study(study: tuple[Path, dict]) -> None:
    out, _ = study
    result = tune(_config(), out, trials=10, **QUIET)
    assert result["trials"] == 10 and [r["number"] for r in result["rows"]] == list(range(10))


def test_two_workers_share_one_study(tmp_path: Path) -> None:
    result = tune(_config(max_epochs=2), tmp_path / "s", trials=4, workers=2, **QUIET)
    assert result["trials"] == 4  # this machine's workers split the trials exactly
    assert sum(r["default"] for r in result["rows"]) == 1


def test_default_spaces_follow_the_family_and_the_models_fields() -> None:
    assert {"train.lr", "model.dropout", "model.num_layers"} <= set(default_space("lstm"))
    assert "model.num_layers" not in default_space("linear") and default_space("last_value") == {}
    dims = {d.key: d for d in build_space("lstm", {"model.dropout": None, "train.lr": {"low": 1e-3, "high": 1e-2}})}
    assert "model.dropout" not in dims and dims["train.lr"].high == 1e-2 and not dims["train.lr"].log


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"space": {"model.nope": [1, 2]}}, "has no field 'nope'"),
        ({"space": {"train.lr": {"low": 1e-2, "high": 1e-3}}}, "need low < high"),
        ({"space": {"train.lr": {"low": 0, "high": 1e-3, "log": True}}}, "low > 0"),
        ({"space": {"train.batch_size": [0, 8]}}, "train.batch_size"),
        ({"space": {"lr": [1]}}, "dotted config key"),
        ({"trials": 0}, "at least 1"),
        ({"pruner": "asha"}, "median, hyperband, none"),
        ({"metric": "bleu"}, "validates on loss"),
        ({"workers": 0}, "--workers 0"),
    ],
)
def test_bad_options_are_one_line_errors_before_any_trial(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises((ConfigError, SeqarenaError), match=message):
        tune(_config(), tmp_path / "s", **options, **QUIET)
    assert not (tmp_path / "s" / "trials").exists()


def test_a_folder_of_another_study_is_refused(study: tuple[Path, dict]) -> None:
    out, _ = study
    with pytest.raises(SeqarenaError, match="holds another study"):
        tune(_config(lr=3e-3), out, trials=2, **QUIET)


def test_the_tune_section_of_a_config_and_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqarena.cli import app

    cfg = {**_config(max_epochs=2), "tune": {"trials": 3, "pruner": "none", "space": {"model.num_layers": None}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["tune", str(path), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["trials"] == 3 and summary["pruned"] == 0
    assert "model.num_layers" not in summary["best_params"]


def test_ray_workers_need_a_storage_every_node_reaches(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with pytest.raises(SeqarenaError, match="not SQLite"):
        tune(_config(), tmp_path / "s", trials=2, executor="ray", **QUIET)


def test_continuing_a_study_needs_its_storage(study: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = study
    with pytest.raises(SeqarenaError, match="keeps its study in"):
        tune(_config(), out, trials=2, storage=f"sqlite:///{tmp_path / 'other.db'}", **QUIET)


def test_a_trial_left_running_by_a_killed_study_counts_as_failed(tmp_path: Path) -> None:
    from seqarena.tune.study import load_setup, open_study

    out = tmp_path / "s"
    tune(_config(max_epochs=1), out, trials=2, **QUIET)
    setup = load_setup(json.loads((out / "study.json").read_text()), f"sqlite:///{(out / 'study.db').resolve()}")
    open_study(setup).ask()  # a trial whose worker died mid-training
    result = tune(_config(max_epochs=1), out, trials=4, **QUIET)
    assert [r["state"] for r in result["rows"]].count("fail") == 1 and result["trials"] == 4
    assert result["complete"] + result["pruned"] == 3
