"""Sequence classification: data sources and splits, masks honoured by every pooling mode and non-causal model,
metrics, learning, predict, the arena, and bad input."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import seqarena
from seqarena.cv import CVResult, cross_validate, ensemble_evaluate, rank
from seqarena.data.labelled import assign_splits, load_labelled
from seqarena.data.ucr import read_ts
from seqarena.errors import ConfigError, DataError
from seqarena.registry import get_model
from seqarena.tasks.classify import collate, time_warp
from seqarena.tasks.classify_metrics import classification_metrics
from seqarena.tasks.classify_model import ClassifyModel, pool
from test_cli import assert_clean_error, cli


def wave_table(path: Path, n: int = 240, seed: int = 0, classes: int = 3) -> Path:
    """Variable-length noisy sines whose frequency is the class, one per row (wide format, ragged ends empty)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = i % classes
        length = int(rng.integers(20, 41))
        t = np.arange(length)
        wave = np.sin(2 * math.pi * (k + 1) * t / 20 + rng.uniform(0, 2 * math.pi)) + 0.3 * rng.normal(size=length)
        rows.append({"label": f"c{k}", **{f"t{j}": v for j, v in enumerate(wave)}})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def train_cfg(data: str, model: dict, epochs: int = 8, **task) -> dict:
    return {
        "task": {"name": "classify", "data": data, **task},
        "model": model,
        "train": {"max_epochs": epochs, "lr": 1e-2, "batch_size": 16, "patience": None, "progress": False},
    }


def test_ts_reader_handles_multivariate_variable_length_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "Toy_TRAIN.ts"
    path.write_text(
        "# a comment\n@problemName Toy\n@univariate false\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n1,?:2,3:b\n",
        encoding="utf-8",
    )
    seqs, labels, header = read_ts(path)
    assert [s.shape for s in seqs] == [(3, 2), (2, 2)] and labels == ["a", "b"]
    assert np.isnan(seqs[1][1, 0]) and header["problemname"] == "Toy"
    path.write_text("@data\n1,x,3:a\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_ts(path)


def test_ucr_sets_ship_with_aeon_and_keep_their_official_split() -> None:
    gp = load_labelled("GunPoint")
    assert len(gp.seqs) == 200 and gp.seqs[0].shape == (150, 1)
    assert (gp.official == "train").sum() == 50 and sorted(set(gp.labels)) == ["1", "2"]
    vowels = load_labelled("japanesevowels")  # case-insensitive; variable length, 12 channels
    assert {s.shape[1] for s in vowels.seqs} == {12} and len({len(s) for s in vowels.seqs}) > 1


def test_split_is_stratified_seeded_and_never_takes_validation_from_test() -> None:
    labels = ["a"] * 60 + ["b"] * 20 + ["c"] * 20
    official = np.array(["train"] * 50 + ["test"] * 10 + ["train"] * 15 + ["test"] * 5 + ["train"] * 15 + ["test"] * 5)
    idx = assign_splits(labels, official, 0.2, [0.8, 0.1, 0.1], seed=0)
    assert set(idx["test"]) == set(np.flatnonzero(official == "test"))
    assert not set(idx["val"]) & set(idx["test"]) and not set(idx["val"]) & set(idx["train"])
    val_labels = [labels[i] for i in idx["val"]]
    assert val_labels.count("a") == 10 and val_labels.count("b") == 3  # 20% of each class's training cases
    again = assign_splits(labels, official, 0.2, [0.8, 0.1, 0.1], seed=0)
    other = assign_splits(labels, official, 0.2, [0.8, 0.1, 0.1], seed=1)
    assert all((again[s] == idx[s]).all() for s in idx) and not (other["val"] == idx["val"]).all()
    shares = assign_splits(labels, None, 0.2, [0.8, 0.1, 0.1], seed=0)
    assert sorted(np.concatenate(list(shares.values())).tolist()) == list(range(100))
    assert len(shares["test"]) == 10 and len(shares["val"]) == 10


def test_k_folds_validate_every_training_case_once_stratified_and_never_touch_test() -> None:
    labels = ["a"] * 60 + ["b"] * 20 + ["c"] * 20
    official = np.array(["train"] * 50 + ["test"] * 10 + ["train"] * 15 + ["test"] * 5 + ["train"] * 15 + ["test"] * 5)
    train_cases = set(np.flatnonzero(official == "train"))
    seen: list[int] = []
    for fold in range(5):
        idx = assign_splits(labels, official, 0.2, [0.8, 0.1, 0.1], 0, folds=5, fold=fold)
        assert set(idx["test"]) == set(np.flatnonzero(official == "test"))
        assert set(idx["train"]) | set(idx["val"]) == train_cases and not set(idx["train"]) & set(idx["val"])
        val_labels = [labels[i] for i in idx["val"]]
        assert val_labels.count("a") == 10 and val_labels.count("b") == 3 and val_labels.count("c") == 3
        seen += idx["val"].tolist()
    assert sorted(seen) == sorted(train_cases)  # each training case validates exactly once
    folds = [assign_splits(labels, None, 0.2, [0.8, 0.1, 0.1], 0, folds=3, fold=f) for f in range(3)]
    assert all((f["test"] == folds[0]["test"]).all() for f in folds) and len(folds[0]["test"]) == 10
    assert sorted(np.concatenate([f["val"] for f in folds]).tolist()) == sorted(
        np.concatenate([folds[0]["train"], folds[0]["val"]]).tolist()
    )


def test_cross_validation_writes_a_summary_over_every_fold(tmp_path: Path) -> None:
    data = str(wave_table(tmp_path / "waves.csv", n=60))
    model = {"name": "gru", "d_model": 8}
    result = cross_validate(train_cfg(data, model, epochs=1), tmp_path / "cv", folds=3, log=lambda _: None)
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert summary["folds"] == 3 and len(summary["val"]["accuracy"]["per_fold"]) == 3
    assert summary["config"]["task"]["folds"] is None  # the recipe to retrain on the usual split
    assert result.summary["loss"]["mean"] == pytest.approx(statistics.fmean(summary["val"]["loss"]["per_fold"]))
    for fold in range(3):
        saved = yaml.safe_load((tmp_path / "cv" / f"fold-{fold}" / "config.yaml").read_text())
        assert (saved["task"]["folds"], saved["task"]["fold"]) == (3, fold)
        assert (tmp_path / "cv" / f"fold-{fold}" / "model.safetensors").is_file()
    bagged = ensemble_evaluate(tmp_path / "cv")  # averaged probabilities: the loss is convex, so no worse on average
    members = [json.loads((tmp_path / "cv" / f"fold-{f}" / "results.json").read_text())["test"] for f in range(3)]
    assert bagged["members"] == 3 and bagged["loss"] <= statistics.fmean(m["loss"] for m in members) + 1e-6
    with pytest.raises(ConfigError, match="ensemble is evaluated on test"):
        ensemble_evaluate(tmp_path / "cv", split="val")
    ranked = rank([result, CVResult(tmp_path, 3, {"accuracy": {"mean": 1.0}, "loss": {"mean": 9.0}}, "classify")])
    assert ranked[0].out == tmp_path  # accuracy first, then loss


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["cv", "--data", "GunPoint", "--folds", "1"], "at least 2 folds"),
        (["cv", "--data", "nope/missing.csv"], "does not exist"),
        (["cv", "--set", "task.name=forecast"], "has no folds to cross-validate"),
        (["train", "--task", "classify", "--set", "task.folds=3", "--set", "task.fold=7"], "0 <= fold < folds"),
    ],
)
def test_cv_bad_input_is_one_line_and_leaves_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    proc = cli(*args, "--out", str(tmp_path / "cv"))
    assert_clean_error(proc, fragment)
    assert not (tmp_path / "cv").exists()


@pytest.mark.slow
def test_cross_validation_ranks_a_learning_recipe_above_a_starved_one(tmp_path: Path) -> None:
    data = str(wave_table(tmp_path / "waves.csv", n=90))
    model = {"name": "gru", "d_model": 16}
    good = cross_validate(train_cfg(data, model, epochs=15), tmp_path / "good", folds=3, log=lambda _: None)
    starved = train_cfg(data, model, epochs=1)
    starved["train"]["lr"] = 1e-5
    bad = cross_validate(starved, tmp_path / "bad", folds=3, log=lambda _: None)
    assert good.summary["accuracy"]["mean"] > 0.8 > bad.summary["accuracy"]["mean"]
    assert rank([bad, good])[0] is good


@pytest.mark.parametrize("how", ["last", "mean", "max", "attention"])
def test_pooling_ignores_padding(how: str) -> None:
    torch.manual_seed(0)
    h = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    scores = torch.randn(2, 5)
    junk = h.clone()
    junk[0, 3:] = 1e6  # padding with huge values must change nothing
    scores_junk = scores.clone()
    scores_junk[0, 3:] = 1e6
    a, b = pool(h, mask, how, scores), pool(junk, mask, how, scores_junk)
    assert torch.allclose(a, b)
    alone = pool(h[:1, :3], mask[:1, :3], how, scores[:1, :3])
    assert torch.allclose(a[:1], alone, atol=1e-6)


MASKED_MODELS = [
    {"name": "lstm", "d_model": 8, "bidirectional": True},
    {"name": "gru", "d_model": 8, "bidirectional": True, "residual": True},
    {"name": "transformer", "d_model": 8, "num_heads": 2},
    {"name": "local_attention", "d_model": 8, "num_heads": 2, "window": 2},
    {"name": "linear_attention", "d_model": 8, "num_heads": 2, "causal": False},
    {"name": "gru", "d_model": 8},  # causal: right padding never reaches a valid step
    {"name": "mamba", "d_model": 8},
]


@pytest.mark.parametrize("model", MASKED_MODELS, ids=lambda m: f"{m['name']}{'-bi' if m.get('bidirectional') else ''}")
@pytest.mark.parametrize("how", ["last", "mean", "max", "attention"])
def test_a_padded_sequence_classifies_as_it_does_alone(model: dict, how: str) -> None:
    torch.manual_seed(0)
    cls = get_model(model["name"])
    clf = ClassifyModel(cls(cls.Config(**model)), 2, 3, how).eval()
    short, long = torch.randn(4, 2), torch.randn(9, 2)
    x, mask = collate([short, long])
    with torch.no_grad():
        batched = clf(x, mask)
        alone = clf(short[None], torch.ones(1, 4, dtype=torch.bool))
    assert torch.allclose(batched[0], alone[0], atol=1e-5)


def test_time_warp_keeps_end_points_and_padding_and_is_seeded() -> None:
    ramp = torch.arange(12.0)[:, None]  # (T, 1): a warped ramp stays monotone between the same end points
    x, mask = collate([ramp[:7], ramp, ramp[:1]])
    warped = time_warp(x, mask, 0.5, torch.Generator().manual_seed(0))
    again = time_warp(x, mask, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(warped, again)
    for row, n in zip(warped, (7, 12, 1), strict=True):
        assert row[0, 0] == 0 and torch.isclose(row[n - 1, 0], torch.tensor(n - 1.0))
        assert (row[n:] == 0).all()  # padding stays zero
        assert (row[1:n, 0] - row[: n - 1, 0] >= 0).all()  # time never runs backwards
    assert not torch.allclose(warped[1], x[1])  # a real warp, not the identity
    assert torch.allclose(time_warp(x, mask, 1e-9, torch.Generator().manual_seed(0)), x, atol=1e-5)


def test_metrics_match_hand_computed_values() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.7, 0.3]])
    target = torch.tensor([0, 1, 1, 1, -1])  # the last case is a class never seen in training
    m = classification_metrics(probs, target, ["a", "b"])
    assert m["confusion"] == [[1, 0], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5) and m["error_rate"] == pytest.approx(2 / 5)
    assert m["per_class"]["a"]["precision"] == pytest.approx(0.5) and m["per_class"]["b"]["recall"] == pytest.approx(
        2 / 3
    )
    f1_a, f1_b = 2 * 0.5 * 1 / 1.5, 2 * 1 * (2 / 3) / (5 / 3)
    assert m["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])), rel=1e-5)


@pytest.mark.parametrize(
    ("model", "lr", "task"),
    [
        ({"name": "gru", "d_model": 24, "num_layers": 1}, 1e-2, {}),
        ({"name": "lstm", "d_model": 24, "num_layers": 1, "bidirectional": True}, 1e-2, {"pooling": "max"}),
        ({"name": "transformer", "d_model": 24}, 3e-3, {"patch": 4}),  # point tokens learn slowly; patches fast
    ],
)
def test_models_learn_variable_length_waves(tmp_path: Path, model: dict, lr: float, task: dict) -> None:
    data = wave_table(tmp_path / "waves.csv")
    cfg = train_cfg(str(data), model, epochs=12, **task)
    cfg["train"]["lr"] = lr
    result = seqarena.train(cfg, tmp_path / "run", log=lambda _: None)
    test = result.results["test"]
    assert test["majority_accuracy"] < 0.4  # three balanced classes
    assert test["accuracy"] >= 0.85, test
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["test"]["confusion"] == test["confusion"]


def test_names_learns_languages_from_characters(tmp_path: Path) -> None:
    cfg = train_cfg("names", {"name": "gru", "d_model": 32, "num_layers": 1}, epochs=3, max_train=4000)
    cfg["train"]["lr"] = 5e-3
    result = seqarena.train(cfg, tmp_path / "run", log=lambda _: None)
    test = result.results["test"]
    assert len(test["classes"]) == 18
    assert test["accuracy"] > test["majority_accuracy"] + 0.1, test


def test_sequential_mnist_variants_have_the_documented_shapes() -> None:
    rows, perm = load_labelled("smnist-rows"), load_labelled("psmnist")
    assert rows.seqs[0].shape == (28, 28) and perm.seqs[0].shape == (784, 1) and len(perm.seqs) == 10_000
    pixels = load_labelled("smnist")
    assert sorted(pixels.seqs[0][:, 0]) == pytest.approx(sorted(perm.seqs[0][:, 0]))  # the same pixels, reordered
    assert not np.allclose(pixels.seqs[0], perm.seqs[0])


def test_long_format_and_parquet_tables(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"id": f"s{i}", "label": "up" if i % 2 else "down", "x": v, "y": -v}
        for i in range(40)
        for v in (np.cumsum(rng.normal(0.5 if i % 2 else -0.5, 0.1, size=6 + i % 3)))
    ]
    frame = pd.DataFrame(rows)
    frame.to_parquet(tmp_path / "long.parquet")
    data = load_labelled(str(tmp_path / "long.parquet"), id_column="id")
    assert len(data.seqs) == 40 and data.channels == ["x", "y"] and {len(s) for s in data.seqs} == {6, 7, 8}
    frame.loc[3, "label"] = "up"  # s0 now has two labels
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="more than one label"):
        load_labelled(str(tmp_path / "bad.csv"), id_column="id")


def test_train_predict_and_evaluate_through_the_cli(tmp_path: Path) -> None:
    data = wave_table(tmp_path / "waves.csv", n=90)
    run = tmp_path / "run"
    args = ["--set", "model.d_model=16", "--set", "train.max_epochs=2", "--set", "train.progress=false"]
    proc = cli("train", "--task", "classify", "--data", str(data), "--model", "gru", *args, "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in json.loads(proc.stdout)["test"]
    new = tmp_path / "new.csv"
    pd.read_csv(data).drop(columns="label").head(5).to_csv(new, index=False)
    out = tmp_path / "labels.csv"
    proc = cli("predict", str(run), "--input", str(new), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    labels = pd.read_csv(out)
    assert len(labels) == 5 and set(labels["label"]) <= {"c0", "c1", "c2"}
    assert np.allclose(labels[["p_c0", "p_c1", "p_c2"]].sum(axis=1), 1.0, atol=1e-4)
    proc = cli("evaluate", str(run), "--split", "test")
    assert proc.returncode == 0 and "confusion" in json.loads(proc.stdout)["test"]


def test_bad_classification_input(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("label,t0,t1\na,1,2\nb,1,2,3,4\n", encoding="utf-8")
    base = ["train", "--task", "classify", "--out", str(tmp_path / "run")]
    assert_clean_error(cli(*base, "--data", str(ragged)), "ragged rows")
    assert_clean_error(cli(*base, "--data", str(wave_table(tmp_path / "w.csv", n=30)), "--set", "task.label=y"),
                       "no label column 'y'")  # fmt: skip
    words = tmp_path / "words.csv"
    words.write_text("label,t0,t1\na,1,x\nb,2,y\n", encoding="utf-8")
    assert_clean_error(cli(*base, "--data", str(words)), "not numeric")
    assert_clean_error(cli(*base, "--data", "NoSuchArchive"), "unknown classification dataset")
    assert_clean_error(cli(*base, "--data", "GunPoint", "--set", "task.pooling=median"), "task.pooling")
    assert not (tmp_path / "run").exists()


def test_a_class_seen_only_in_test_is_a_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def case(label: str) -> str:
        return ",".join(f"{v:.3f}" for v in rng.normal(size=12)) + f":{label}"

    header = "@problemName Toy\n@classLabel true a b c\n@data\n"
    (tmp_path / "Toy_TRAIN.ts").write_text(header + "\n".join(case("ab"[i % 2]) for i in range(20)), "utf-8")
    (tmp_path / "Toy_TEST.ts").write_text(header + "\n".join(case("abc"[i % 3]) for i in range(9)), "utf-8")
    logs: list[str] = []
    result = seqarena.train(
        train_cfg(str(tmp_path / "Toy_TRAIN.ts"), {"name": "gru", "d_model": 8}, epochs=1), tmp_path / "run",
        log=logs.append,
    )  # fmt: skip
    assert any(line.startswith("warning:") and "'c'" in line and "only in val/test" in line for line in logs), logs
    assert result.results["test"]["cases"] == 9 and result.results["test"]["accuracy"] <= 6 / 9


def test_forecasters_cannot_classify(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot serve task 'classify': it is a forecaster"):
        seqarena.train(train_cfg("GunPoint", {"name": "linear"}), tmp_path / "run", log=lambda _: None)
    assert not (tmp_path / "run").exists()


def test_classification_in_the_arena(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    data = wave_table(tmp_path / "waves.csv", n=90)
    spec = parse(
        {
            "task": {"name": "classify", "data": str(data)},
            "models": "gru,lstm",
            "budget": {"params": "5k", "epochs": 2},
            "seeds": 1,
            "workers": 1,
            "train": {"lr": 1e-2},
        }
    )
    report = compare(spec, tmp_path / "arena", log=lambda _: None)
    _, points = collect(tmp_path / "arena", None)
    board = points[0]["board"]
    assert {b["label"] for b in board} == {"gru", "lstm"} and all(b["runs"] == 1 for b in board)
    assert all(0 <= b["test_accuracy"] <= 1 and b["latency_b1_ms"] > 0 for b in board)
    assert board[0]["test_error_rate"] <= board[1]["test_error_rate"]
    assert abs(board[0]["params"] - 5000) <= 250 and isinstance(board[0]["majority_accuracy"], float)
    html = report.read_text(encoding="utf-8")
    assert "test accuracy" in html and "test confusion matrix" in html and "most frequent training class" in html


def test_a_small_set_with_default_epochs_gets_a_note_naming_the_fix() -> None:
    from seqarena.config import TrainConfig
    from seqarena.training.loop import short_training_note

    old = {"batch_size": 32, "max_epochs": 10, "patience": 3}  # the fixed defaults before they adapted to the data
    note = short_training_note(40, TrainConfig(**old))  # GunPoint's 40 training cases, batch 32, 10 epochs
    assert note is not None and "only 20 optimizer steps" in note and "train.max_epochs" in note
    assert short_training_note(40, TrainConfig(**{**old, "max_epochs": 300})) is None
    assert short_training_note(5000, TrainConfig(**old)) is None
    assert short_training_note(40, TrainConfig(**old, max_seconds=60)) is None


def test_refit_on_every_training_case_keeps_the_epoch_of_lowest_training_loss(tmp_path: Path) -> None:
    cfg = train_cfg("GunPoint", {"name": "gru", "d_model": 4}, epochs=3, val_fraction=0.0)
    result = seqarena.train(cfg, tmp_path / "run", log=lambda _: None)
    assert "val" not in result.results and result.results["test"]["accuracy"] >= 0.0
    assert json.loads((tmp_path / "run" / "task.json").read_text())["splits"] == {"train": 50, "val": 0, "test": 150}
    losses = [h["train_loss"] for h in result.history]
    assert result.training["best_epoch"] == 1 + losses.index(min(losses))
    assert "val_loss" not in result.history[0]
    with pytest.raises(ConfigError, match="train.patience=null"):
        seqarena.train({**cfg, "train": {**cfg["train"], "patience": 3}}, tmp_path / "other", log=lambda _: None)
    with pytest.raises(ConfigError, match="val split is empty"):
        seqarena.evaluate(tmp_path / "run", split="val")
    assert not (tmp_path / "other").exists()
