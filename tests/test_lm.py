from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

import seqarena
from seqarena.config import build
from seqarena.data.text import load_corpus, read_text
from seqarena.data.tokenizers import ByteTokenizer, CharTokenizer, WordTokenizer, from_json, train_tokenizer
from seqarena.errors import ConfigError, DataError
from seqarena.registry import get_model, get_task, model_names
from seqarena.tasks.generate import Sampling, generate, pick
from seqarena.tasks.lm import stream_nll, window_nll
from seqarena.tasks.lm_metrics import NgramIndex, distinct_n, repetition_rate
from seqarena.tasks.lm_model import LMModel

LM_MODELS = [m for m in model_names() if get_model(m).kind == "backbone"]


def _causal(name: str) -> bool:
    cls = get_model(name)
    cfg = build({"task": {"name": "lm"}, "model": {"name": name}}).model
    return get_task("lm").requires.why_not(name, cls.capabilities_of(cfg)) is None


CAUSAL = [m for m in LM_MODELS if _causal(m)]


def grammar_text(lines: int, seed: int) -> str:
    """Sentences from a tiny grammar: a character model can predict most of each line from its start."""
    rng = random.Random(seed)
    subj, verb, obj = ["the cat", "a dog", "my bird", "his fox"], ["sees", "eats", "likes", "hides"], "abcd"
    return "".join(
        f"{rng.choice(subj)} {rng.choice(verb)} the {rng.choice(obj)}{rng.choice(obj)} .\n" for _ in range(lines)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "grammar.txt"
    path.write_text(grammar_text(1500, 0))
    return path


def unigram_loss(path: Path) -> float:
    """Cross-entropy (nats/char) of the validation split under the training split's character frequencies."""
    pieces = load_corpus(str(path), "utf-8", None).texts
    counts = Counter(pieces["train"])
    total = sum(counts.values())
    return -sum(math.log(counts[c] / total) for c in pieces["val"][1:]) / (len(pieces["val"]) - 1)


def lm_config(path: Path, model: str, **task) -> dict:
    return {
        "task": {"name": "lm", "data": str(path), "block_size": 32, **task},
        "model": {"name": model, "d_model": 32},
        "train": {"max_epochs": 4, "batch_size": 16, "lr": 1e-2, "progress": False, "threads": 1, "patience": None},
        "eval": {"batch_size": 64},
    }


# --- tokenizers and corpora -------------------------------------------------------------------------------------


def test_tokenizers_round_trip_through_json() -> None:
    text = "To be, or not to be:\nthat is the question.\n"
    for tok in (CharTokenizer.train(text), ByteTokenizer(), train_tokenizer("bpe", text * 50, 300, 1)):
        again = from_json(tok.to_json())
        ids = tok.encode(text)
        assert again.encode(text) == ids and again.decode(ids) == text, tok.kind
        assert list(tok.encode_corpus(text)) == ids
    word = WordTokenizer.train(text)
    assert word.decode(list(word.encode_corpus(text))) == text
    assert from_json(word.to_json()).vocab == word.vocab
    assert word.encode("to that zebra") == [word.index["to"], word.index["that"], word.unk]  # unknown words -> <unk>


def test_wikitext2_word_vocabulary_matches_the_standard_counts(data_dir: Path) -> None:
    pieces = load_corpus("wikitext-2", "utf-8", None).texts
    tok = WordTokenizer.train(pieces["train"])
    assert tok.vocab_size == 33_278
    assert len(tok.encode_corpus(pieces["train"])) == 2_088_628
    assert len(tok.encode_corpus(pieces["test"])) == 245_569
    assert tok.vocab[0] == "the"  # frequency order, as the adaptive softmax needs


def test_tinyshakespeare_splits_90_10_like_nanogpt(data_dir: Path) -> None:
    corpus = load_corpus("tinyshakespeare", "utf-8", None)
    n = sum(len(corpus.texts[s]) for s in ("train", "val"))
    assert n == 1_115_394 and abs(len(corpus.texts["train"]) / n - 0.9) < 1e-3
    assert corpus.test_is_val and corpus.texts["test"] == corpus.texts["val"]
    assert len(set(corpus.texts["train"])) == 65


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"abc\x00def", "looks binary"), (b"caf\xe9 au lait\n", "offset 3")],
)
def test_bad_corpus_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text(path, "utf-8")


def test_unknown_encoding_and_latin1_fallback(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(DataError, match="unknown text encoding"):
        read_text(path, "klingon")
    assert read_text(path, "latin-1") == "café au lait\n"


# --- learning ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", CAUSAL)
def test_every_causal_model_learns_well_below_the_unigram_baseline(model: str, corpus: Path, tmp_path: Path) -> None:
    result = seqarena.train(lm_config(corpus, model), tmp_path / model, log=lambda _: None)
    loss, baseline = result.results["test"]["loss"], unigram_loss(corpus)
    assert loss < 0.5 * baseline, f"{model}: {loss:.3f} nats/char vs unigram {baseline:.3f}"


def test_word_level_adaptive_softmax_learns(corpus: Path, tmp_path: Path) -> None:
    cfg = lm_config(corpus, "lstm", tokenizer="word", head="adaptive", cutoffs=[4, 8])
    cfg["train"]["max_epochs"] = 10
    result = seqarena.train(cfg, tmp_path / "adaptive", log=lambda _: None)
    assert result.config.task.head == "adaptive"
    words = load_corpus(str(corpus), "utf-8", None).texts["train"].replace("\n", " <eos> ").split()
    counts = Counter(words)
    unigram_ppl = math.exp(-sum(n / len(words) * math.log(n / len(words)) for n in counts.values()))
    # the grammar allows 4 * 4 * 16 lines over 7 tokens: the best possible perplexity is 256 ** (1 / 7) = 2.2
    assert result.results["test"]["ppl"] < min(3.0, 0.3 * unigram_ppl)


def test_bidirectional_and_non_causal_models_are_refused(corpus: Path, tmp_path: Path) -> None:
    cfg = lm_config(corpus, "lstm")
    cfg["model"]["bidirectional"] = True
    with pytest.raises(ConfigError, match="bidirectional"):
        seqarena.train(cfg, tmp_path / "bi", log=lambda _: None)
    cfg = lm_config(corpus, "transformer")
    cfg["model"]["causal"] = False
    with pytest.raises(ConfigError, match="cannot serve task 'lm'"):
        seqarena.train(cfg, tmp_path / "tf", log=lambda _: None)
    assert not (tmp_path / "bi").exists() and not (tmp_path / "tf").exists()


# --- evaluation -------------------------------------------------------------------------------------------------


def _lm(name: str, vocab: int = 11, **model) -> LMModel:
    torch.manual_seed(0)
    cfg = build({"task": {"name": "lm"}, "model": {"name": name, "d_model": 16, **model}}).model
    return LMModel(get_model(name)(cfg), vocab, "full", [], False).eval()


STATEFUL_STREAM = [m for m in CAUSAL if get_model(m)(get_model(m).Config(d_model=16)).capabilities().streaming]


@pytest.mark.parametrize("name", STATEFUL_STREAM)
def test_stateful_evaluation_equals_the_unsplit_stream(name: str) -> None:
    model = _lm(name)
    ids = torch.randint(0, 11, (203,), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        h, _ = model.hidden(ids[None, :-1])
        whole = float(model.nll(h, ids[None, 1:]).double().sum())
        pieces = stream_nll(model, ids, window=17)
    assert pieces == pytest.approx(whole, rel=1e-5)


def test_sliding_windows_score_every_token_once() -> None:
    model = _lm("transformer")
    ids = torch.randint(0, 11, (100,), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        blocks = window_nll(model, ids, 16, None, 4)
        same = window_nll(model, ids, 16, 16, 4)
        sliding = window_nll(model, ids, 16, 4, 4)
        full = window_nll(model, ids, 128, None, 4)  # one window holds everything
        full_sliding = window_nll(model, ids, 128, 8, 4)
    assert same == pytest.approx(blocks, rel=1e-6)
    assert full_sliding == pytest.approx(full, rel=1e-5)
    assert sliding != pytest.approx(blocks, rel=1e-3)  # more context changes the scores


# --- generation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["transformer", "local_attention", "lstm_attention", "hybrid", "lstm", "mamba"])
def test_cached_greedy_generation_equals_recomputation(name: str) -> None:
    model = _lm(name)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    greedy = Sampling(max_new_tokens=40, temperature=0)
    cached = generate(model, prompt, greedy, context=16)
    plain = generate(model, prompt, Sampling(max_new_tokens=40, temperature=0, use_cache=False), context=16)
    assert cached.cache and not plain.cache
    assert torch.equal(cached.tokens, plain.tokens)  # also past the 16-token window, which slides


def test_sampling_options() -> None:
    torch.manual_seed(0)
    logp = torch.randn(3, 50).log_softmax(-1)
    history = torch.zeros(3, 1, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    greedy = logp.argmax(-1)
    assert torch.equal(pick(logp, history, Sampling(top_k=1), gen), greedy)
    assert torch.equal(pick(logp, history, Sampling(top_p=1e-6), gen), greedy)
    penalised = pick(logp, greedy[:, None], Sampling(temperature=0, repetition_penalty=1e6), gen)
    assert not torch.equal(penalised, greedy)
    a = pick(logp, history, Sampling(seed=3), torch.Generator().manual_seed(3))
    b = pick(logp, history, Sampling(seed=3), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_generation_metrics() -> None:
    assert repetition_rate(["a b c d a b c d a b c d"]) == pytest.approx(1 - 4 / 9)
    assert repetition_rate(["one two three four five"]) == 0.0
    assert distinct_n(["a a a a"], 1) == 0.25
    index = NgramIndex("the cat sat on the mat today", n=3)
    assert index.copy_rate(["the cat sat on a hat"]) == pytest.approx(2 / 4)


def test_train_evaluate_generate_through_the_cli_api(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "tf"
    cfg = lm_config(corpus, "transformer")
    cfg["train"]["max_epochs"] = 2
    result = seqarena.train(cfg, run, log=lambda _: None)
    assert (run / "tokenizer.json").is_file() and result.results["test"]["context"].startswith("disjoint blocks")
    again = seqarena.evaluate(run, "test")
    assert again["loss"] == pytest.approx(result.results["test"]["loss"], rel=1e-6)
    pieces: list[str] = []
    out = seqarena.generate(run, "the cat", max_new_tokens=60, temperature=0.5, seed=1, on_text=pieces.append)
    assert "".join(pieces) == out["samples"][0] and out["tokens_per_s"] > 0 and out["threads"] >= 1
    again = seqarena.generate(run, "the cat", max_new_tokens=60, temperature=0.5, seed=1)
    assert again["samples"] == out["samples"]  # seeded
    stopped = seqarena.generate(run, "the cat", max_new_tokens=60, temperature=0, stop=["\n"], num_samples=2)
    assert all("\n" not in s for s in stopped["samples"]) and stopped["new_tokens"] < 60
    with pytest.raises(DataError, match="not in the character vocabulary"):
        seqarena.generate(run, "the cat 🐈")


# --- arena ------------------------------------------------------------------------------------------------------


def test_language_models_in_the_arena(corpus: Path, tmp_path: Path) -> None:
    from seqarena.arena import spec as arena_spec
    from seqarena.arena.results import collect
    from seqarena.comparison import compare

    raw = {
        "task": {"name": "lm", "data": str(corpus), "block_size": 32},
        "models": "lstm,gru,transformer",
        "budget": {"params": "20k", "epochs": 2},
        "train": {"batch_size": 16, "lr": 1e-2},
        "workers": 2,
    }
    report = compare(arena_spec.parse(raw), tmp_path / "arena", log=lambda _: None)
    _, points = collect(tmp_path / "arena")
    board = points[0]["board"]
    assert [b["label"] for b in board if b.get("runs")] and all(b["runs"] == 1 for b in board)
    for line in board:
        assert line["test_ppl"] < 0.5 * line["unigram_ppl"]
        assert line["gen_tokens_per_s"] > 0 and 0 <= line["repetition_rate"] <= 1 and 0 < line["distinct_2"] <= 1
        assert abs(line["params"] - 20_000) <= 1_000  # size-matched like every arena entrant
    assert [b["test_ppl"] for b in board] == sorted(b["test_ppl"] for b in board)
    html = report.read_text()
    assert "test perplexity" in html and "gen tokens/s" in html and "Perplexity is exp(mean cross-entropy" in html
