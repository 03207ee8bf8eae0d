"""Sequence-to-sequence: data and normalisation, step-by-step decoding equal to teacher forcing, exact beam search,
learning synthetic tasks, the CLI (train, evaluate, translate, attention plot), the arena, and bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

import seqarena
from seqarena.data.pairs import load_pairs, normalise
from seqarena.errors import ConfigError, DataError
from seqarena.models.encdec import RecurrentEncDec, TransformerEncDec
from seqarena.models.rnn import GRU, LSTM, GRUConfig, RecurrentConfig
from seqarena.models.transformer import TransformerConfig
from seqarena.tasks.decode import beam_search, greedy, length_penalty
from seqarena.tasks.seq2seq import BOS, EOS, pad_batch
from test_cli import assert_clean_error, cli


def tiny_models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [
        RecurrentEncDec(GRU, GRUConfig(d_model=16, num_layers=2, bidirectional=True), 9, 7, "bahdanau"),
        RecurrentEncDec(LSTM, RecurrentConfig(d_model=16, num_layers=1), 9, 7, "luong"),
        RecurrentEncDec(GRU, GRUConfig(d_model=16, num_layers=1), 9, 7, "none"),
        TransformerEncDec(TransformerConfig(d_model=16, num_heads=2, num_layers=2), 9, 7),
    ]


def sources() -> tuple[torch.Tensor, torch.Tensor]:
    return pad_batch([torch.tensor([4, 5, 6, 7]), torch.tensor([8, 4])])


def test_normalise_follows_the_tutorial() -> None:
    assert normalise("  Je suis prête, n'est-ce pas?") == "je suis prete , n est ce pas ?"
    assert normalise("I'm COLD.") == "i m cold ."


@pytest.mark.parametrize("model", tiny_models(), ids=["gru-bi-bahdanau", "lstm-luong", "gru-none", "transformer"])
def test_step_by_step_decoding_equals_teacher_forcing(model: torch.nn.Module) -> None:
    model.eval()
    src, mask = sources()
    tgt_in = torch.tensor([[BOS, 4, 5, 6], [BOS, 6, 4, 4]])
    with torch.no_grad():
        full = torch.log_softmax(model(src, mask, tgt_in), -1)  # (B, T, V)
        state, steps = model.start(src, mask), []
        for t in range(tgt_in.shape[1]):
            logp, state = model.step(tgt_in[:, t], state)
            steps.append(logp)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


def test_padding_the_source_changes_nothing() -> None:
    for model in tiny_models():
        model.eval()
        src, mask = sources()
        alone, alone_mask = pad_batch([torch.tensor([8, 4])])
        tgt = torch.tensor([[BOS, 5, 6]])
        with torch.no_grad():
            batched = model(src, mask, tgt.expand(2, -1))[1]
            single = model(alone, alone_mask, tgt)[0]
        assert torch.allclose(batched, single, atol=1e-5), type(model).__name__


def _sequence_score(model: torch.nn.Module, src: torch.Tensor, mask: torch.Tensor, seq: list[int]) -> float:
    state, total, prev = model.start(src, mask), 0.0, BOS
    for token in [*seq, EOS]:
        logp, state = model.step(torch.tensor([prev]), state)
        total += float(logp[0, token])
        prev = token
    return total


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_search_finds_the_exact_best_sequence(alpha: float) -> None:
    model = tiny_models()[3].eval()
    src, mask = pad_batch([torch.tensor([4, 5, 6])])
    max_len, vocab = 3, 7
    best, best_score = None, float("-inf")
    with torch.no_grad():
        for n in range(max_len):  # every output of up to max_len - 1 units followed by <eos>
            for seq in itertools.product([t for t in range(vocab) if t != EOS], repeat=n):
                score = _sequence_score(model, src, mask, list(seq)) / length_penalty(n + 1, alpha)
                if score > best_score:
                    best, best_score = list(seq), score
        found = beam_search(model, src, mask, beam=vocab**max_len, max_len=max_len, bos=BOS, eos=EOS, alpha=alpha)
    assert found[0] == best


def test_beam_of_one_is_greedy_and_batches_agree() -> None:
    model = tiny_models()[0].eval()
    src, mask = sources()
    g = greedy(model, src, mask, 6, BOS, EOS)
    assert beam_search(model, src, mask, 1, 6, BOS, EOS, alpha=0.0) == g
    assert greedy(model, src[1:, :2], mask[1:, :2], 6, BOS, EOS)[0] == g[1]


def train_cfg(model: dict, epochs: int = 6, lr: float = 5e-3, **task) -> dict:
    return {
        "task": {"name": "seq2seq", "data": "synthetic-reverse", "data_args": {"n": 1500, "length": 6}, **task},
        "model": model,
        "train": {"max_epochs": epochs, "lr": lr, "batch_size": 32, "patience": None, "progress": False},
    }


@pytest.mark.parametrize(
    ("model", "lr", "task"),
    [
        ({"name": "gru", "d_model": 48, "num_layers": 1}, 5e-3, {"attention": "bahdanau"}),
        ({"name": "lstm", "d_model": 48, "num_layers": 1, "bidirectional": True}, 5e-3, {"attention": "luong"}),
        ({"name": "transformer", "d_model": 48, "num_layers": 2}, 2e-3, {}),
    ],
)
def test_encoder_decoders_learn_to_reverse(tmp_path: Path, model: dict, lr: float, task: dict) -> None:
    result = seqarena.train(train_cfg(model, lr=lr, **task), tmp_path / "run", log=lambda _: None)
    test = result.results["test"]
    assert test["exact_match"] >= 0.8, test
    assert test["chrf"] > 90 and test["bleu"] > test["copy_bleu"] + 30, test


def test_dates_task_with_beam_search(tmp_path: Path) -> None:
    cfg = train_cfg({"name": "gru", "d_model": 64, "num_layers": 1}, epochs=8, data="synthetic-dates", beam=3)
    result = seqarena.train(cfg, tmp_path / "run", log=lambda _: None)
    test = result.results["test"]
    assert test["decoding"].startswith("beam 3") and test["exact_match"] >= 0.7, test


def test_eng_fra_and_multi30k_splits() -> None:
    pairs = load_pairs("eng-fra", {}, None, None)
    sizes = {s: len(v[0]) for s, v in pairs.splits.items()}
    assert sizes == {"train": 8644, "val": 1080, "test": 1080}
    assert all(s.startswith(("i ", "he ", "she ", "you ", "we ", "they ")) for s in pairs.splits["test"][0])
    assert load_pairs("eng-fra", {}, None, None).splits["test"] == pairs.splits["test"]  # fixed seeded split
    back = load_pairs("eng-fra", {}, "fr", "en").splits["train"]
    assert back[0][0] == pairs.splits["train"][1][0]
    m30k = load_pairs("multi30k", {}, None, None)
    assert {s: len(v[0]) for s, v in m30k.splits.items()} == {"train": 29000, "val": 1014, "test": 1000}


def test_train_evaluate_translate_through_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--set", "task.data=synthetic-reverse", "--set", "task.data_args={n: 600, length: 5}",
            "--set", "model.d_model=24", "--set", "model.attention=bahdanau", "--set", "train.max_epochs=2",
            "--set", "train.progress=false"]  # fmt: skip
    proc = cli("train", "--task", "seq2seq", "--model", "gru", *args, "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    assert {"bleu", "chrf", "copy_bleu"} <= set(json.loads(proc.stdout)["test"])
    proc = cli("evaluate", str(run), "--split", "test")
    assert proc.returncode == 0 and json.loads(proc.stdout)["test"]["decoding"] == "greedy"
    plot = tmp_path / "attn.svg"
    proc = cli("translate", str(run), "abcd", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and plot.read_text().lstrip().startswith("<svg")
    stdin = subprocess_input(["translate", str(run), "--beam", "2"], "abc\nba\n")
    assert stdin.returncode == 0 and stdin.stdout.count("\n") == 2, stdin.stderr
    assert_clean_error(cli("translate", str(run), "abc", "--beam", "3", "--plot", str(plot)), "--beam 1")


def subprocess_input(args: list[str], text: str):
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "seqarena", *args]
    return subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_bad_seq2seq_input(tmp_path: Path) -> None:
    one = tmp_path / "pairs.tsv"
    one.write_text("hello\tbonjour\nonly one column here\n", encoding="utf-8")
    base = ["train", "--task", "seq2seq", "--out", str(tmp_path / "run")]
    assert_clean_error(cli(*base, "--data", str(one)), "line 2: one column only")
    assert_clean_error(cli(*base, "--data", "synthetic-reverse", "--model", "mamba"), "no encoder-decoder form")
    assert_clean_error(cli(*base, "--data", "klingon-fra"), "unknown seq2seq dataset")
    assert not (tmp_path / "run").exists()
    with pytest.raises(DataError, match="en and fr"):
        load_pairs("eng-fra", {}, "de", "fr")
    with pytest.raises(ConfigError, match="task.beam"):
        seqarena.train(train_cfg({"name": "gru"}, beam=0), tmp_path / "x", log=lambda _: None)


def test_seq2seq_in_the_arena(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    spec = parse(
        {
            "task": {"name": "seq2seq", "data": "synthetic-reverse", "data_args": {"n": 600, "length": 5}},
            "models": "gru,transformer",
            "budget": {"params": "20k", "epochs": 2},
            "seeds": 1,
            "workers": 1,
            "train": {"lr": 3e-3},
        }
    )
    report = compare(spec, tmp_path / "arena", log=lambda _: None)
    _, points = collect(tmp_path / "arena", None)
    board = points[0]["board"]
    assert {b["label"] for b in board} == {"gru", "transformer"}
    assert board[0]["test_bleu"] >= board[1]["test_bleu"] and board[0]["latency_b1_ms"] > 0
    html = report.read_text(encoding="utf-8")
    assert "test BLEU" in html and "copying the source sentence" in html and "with greedy decoding" in html
