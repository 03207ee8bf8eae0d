"""Sequence labelling: the CoNLL reader and its errors, span F1 against hand-counted cases, the most-frequent-tag
baseline, the task contract on a CoNLL folder, real learning (a bidirectional tagger reads the word after an
ambiguous entity; a causal one cannot), the hironsan corpus, predict, the CLI's errors and the arena."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seqarena.data.tagged import HIRONSAN, load_tagged, read_conll, synthetic_ner
from seqarena.errors import DataError
from seqarena.tasks.tag_metrics import most_frequent_tags, scheme_of, tagging_metrics
from seqarena.testing import check_task


def write_conll(path: Path, tokens: list[list[str]], tags: list[list[str]]) -> Path:
    lines = ["-DOCSTART- -X- O", ""]
    for sentence, labels in zip(tokens, tags, strict=True):
        lines += [f"{w} X {t}" for w, t in zip(sentence, labels, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def conll_folder(root: Path, n: int = 300) -> Path:
    data = synthetic_ner(n, seed=1)
    root.mkdir(parents=True, exist_ok=True)
    cut = [0, int(n * 0.7), int(n * 0.85), n]
    for name, a, b in zip(("train.txt", "dev.txt", "test.txt"), cut, cut[1:], strict=False):
        write_conll(root / name, data.tokens[a:b], data.tags[a:b])
    return root


def test_conll_reader_reads_sentences_skips_docstart_and_keeps_the_official_split(tmp_path: Path) -> None:
    path = write_conll(
        tmp_path / "a.conll", [["Ann", "said"], ["Rome", "hosts", "it"]], [["B-PER", "O"], ["B-LOC", "O", "O"]]
    )
    tokens, tags, sha = read_conll(path)
    assert tokens == [["Ann", "said"], ["Rome", "hosts", "it"]] and tags[1] == ["B-LOC", "O", "O"] and len(sha) == 64
    assert read_conll(path, column=1)[1][0] == ["X", "X"]  # another column as the tag
    data = load_tagged(str(conll_folder(tmp_path / "folder", 100)))
    assert data.official is not None and data.official.count("train") == 70 and data.official.count("val") == 15


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Ann B-PER\nsaid\n", "line 2: expected a token and a tag"),
        ("", "holds no sentences"),
        ("\n\n", "holds no sentences"),
    ],
)
def test_malformed_conll_files_get_one_clear_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=expected):
        read_conll(path)


def test_bad_tagged_sources_are_refused(tmp_path: Path) -> None:
    (tmp_path / "latin1.conll").write_bytes("caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid utf-8"):
        read_conll(tmp_path / "latin1.conll")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "test.txt").write_text("a O\n", encoding="utf-8")
    with pytest.raises(DataError, match="no train file"):
        load_tagged(str(tmp_path / "only"))
    with pytest.raises(DataError, match="neither a tagged corpus"):
        load_tagged(str(tmp_path / "missing.conll"))


def test_span_f1_counts_whole_entities_and_plain_tags_count_tokens() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # PER's boundary is wrong: 2 of 3 entities right
    m = tagging_metrics(true, pred, scheme_of([t for s in true for t in s]))
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(5 / 6) and m["per_type_f1"]["PER"] == 0.0
    plain_true, plain_pred = [["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]]
    assert scheme_of(["NOUN", "VERB"]) == "plain" and scheme_of(["O", "B-X"]) == "chunks"
    p = tagging_metrics(plain_true, plain_pred, "plain")
    assert p["f1"] == pytest.approx(p["accuracy"]) == pytest.approx(2 / 3)  # no O: micro F1 is accuracy


def test_the_baseline_tags_each_token_with_its_commonest_training_tag() -> None:
    best, fallback = most_frequent_tags([["a", "a", "b"], ["a", "c"]], [["X", "Y", "O"], ["X", "O"]])
    assert best == {"a": "X", "b": "O", "c": "O"} and fallback == "O"


def test_the_tag_task_passes_the_task_contract(tmp_path: Path) -> None:
    folder = conll_folder(tmp_path / "data")
    check_task("tag", {"data": str(folder)}, predict_input=folder / "test.txt", tmp_dir=tmp_path / "run")


def test_a_bidirectional_tagger_resolves_what_a_causal_one_cannot(tmp_path: Path) -> None:
    """Half the entity words in synthetic-ner occur as any type; only the verb after the entity says which."""
    from seqarena.run import train

    scores = {}
    for bidirectional in (False, True):
        raw = {
            "task": {"name": "tag", "data": "synthetic-ner"},
            "model": {"name": "gru", "d_model": 32, "bidirectional": bidirectional},
            "train": {"max_epochs": 6, "lr": 5e-3, "seed": 0, "progress": False},
        }
        scores[bidirectional] = train(raw, tmp_path / str(bidirectional), log=lambda _: None).results["test"]
    causal, both = scores[False], scores[True]
    assert both["f1"] > 0.9 > causal["f1"] + 0.2, (causal["f1"], both["f1"])
    assert both["f1"] > both["baseline_f1"] + 0.5


def test_the_hironsan_corpus_loads_from_its_package_and_is_checked() -> None:
    data = load_tagged(HIRONSAN)
    assert len(data.tokens) == 500 and data.official is None
    tags = {t for s in data.tags for t in s}
    assert {"O", "B-LOC", "I-LOC", "B-ORG"} <= tags and scheme_of(sorted(tags)) == "chunks"


def test_predict_tags_lists_of_sentences_and_refuses_empty_input(tmp_path: Path) -> None:
    from seqarena.run import load, train

    folder = conll_folder(tmp_path / "data", 200)
    raw = {"task": {"name": "tag", "data": str(folder)}, "model": {"name": "gru", "d_model": 8},
           "train": {"max_epochs": 1, "progress": False}}  # fmt: skip
    train(raw, tmp_path / "run", log=lambda _: None)
    run = load(tmp_path / "run")
    frame = run.predict(["the Kalo said", ["a", "Unseenword", "hosts"]])
    assert list(frame.columns) == ["sentence", "position", "token", "tag"] and len(frame) == 6
    assert set(frame["tag"]) <= set(run.artifacts["tags"]) and frame["token"].iloc[4] == "Unseenword"
    with pytest.raises(DataError, match="non-empty list of sentences"):
        run.predict([])


def test_the_cli_refuses_a_missing_file_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "seqarena", "train", "--set", "task.name=tag", "--set",
         f"task.data={tmp_path / 'none.conll'}", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "neither a tagged corpus" in out.stderr and not (tmp_path / "run").exists()


def test_tagging_in_the_arena(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    folder = conll_folder(tmp_path / "data", 300)
    spec = parse(
        {
            "task": {"name": "tag", "data": str(folder)},
            "models": "gru,lstm",
            "budget": {"params": "5k", "epochs": 3},
            "seeds": 1,
            "workers": 1,
            "train": {"lr": 1e-2},
        }
    )
    report = compare(spec, tmp_path / "arena", log=lambda _: None)
    _, points = collect(tmp_path / "arena", None)
    board = points[0]["board"]
    assert {b["label"] for b in board} == {"gru", "lstm"}
    assert all(0 <= b["test_f1"] <= 1 and b["latency_b1_ms"] > 0 for b in board)
    assert board[0]["test_f1"] >= board[1]["test_f1"] and isinstance(board[0]["baseline_f1"], float)
    html = report.read_text(encoding="utf-8")
    assert "test span F1" in html and "most frequent training tag" in html
