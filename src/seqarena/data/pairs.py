"""Sentence pairs for sequence-to-sequence tasks: eng-fra (Tatoeba pairs, filtered as in the PyTorch seq2seq
tutorial), Multi30k (official splits), any tab-separated pair file, and synthetic tasks for tests (reverse, sort,
dates). Text is normalised as in the tutorial (lower case, accents stripped, punctuation split off), so BLEU here
is on normalised text and not comparable with detokenised WMT scores."""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqarena.data import download as dl
from seqarena.data import registry
from seqarena.errors import DataError
from seqarena.splits import SPLITS

ENG_PREFIXES = ("i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ", "we are", "we re ",
                "they are", "they re ")  # fmt: skip
ENG_FRA = ("https://www.manythings.org/anki/fra-eng.zip", "fra.txt",
           "2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888")  # fmt: skip
MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{}"
MULTI30K = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
}
SYNTHETIC = ("reverse", "sort", "dates")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip


@dataclass
class Pairs:
    name: str
    splits: dict[str, tuple[list[str], list[str]]]  # split -> (sources, targets), normalised
    sha256: str
    tokenizer: str  # the default unit: word or char


def normalise(text: str) -> str:
    """Lower case, accents stripped, punctuation .!?, split off, other symbols dropped, single spaces."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower().strip()) if unicodedata.category(c) != "Mn")
    text = re.sub(r"([.!?,])", r" \1 ", text)
    text = re.sub(r"[^a-z0-9.!?,]+", " ", text)
    return " ".join(text.split())


def load_pairs(spec: str, args: dict[str, Any], source: str | None, target: str | None) -> Pairs:
    """(spec, data_args) -> normalised pairs with train/val/test splits (fixed ones where the data has them)."""
    name = spec.lower()
    if name.startswith("synthetic-") and name.split("-", 1)[1] in SYNTHETIC:
        return synthetic(name.split("-", 1)[1], **args)
    if args:
        raise DataError(f"task.data_args is only for the synthetic tasks (synthetic-{'|'.join(SYNTHETIC)})")
    if name == "eng-fra":
        return _eng_fra(source or "en", target or "fr")
    if name == "multi30k":
        return _multi30k(source or "de", target or "en")
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".tsv", ".txt") or path.exists():
        return _pair_file(path)
    raise DataError(
        f"unknown seq2seq dataset '{spec}': give eng-fra, multi30k, synthetic-reverse/-sort/-dates, or a "
        f"tab-separated pair file (source<TAB>target per line)"
    )


def _read_pair_lines(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a tab-separated file of source<TAB>target lines")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid utf-8 (byte offset {exc.start}); convert it to utf-8") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise DataError(
                f"{path}, line {number}: one column only; a pair file needs source<TAB>target on every line"
            )
        pairs.append((cols[0], cols[1]))
    if not pairs:
        raise DataError(f"{path} holds no sentence pairs")
    return pairs


def _pair_file(path: Path) -> Pairs:
    pairs = [(normalise(s), normalise(t)) for s, t in _read_pair_lines(path)]
    pairs = [(s, t) for s, t in pairs if s and t]
    return Pairs(path.stem, split_pairs(pairs, 0), dl.sha256_file(path), "word")


def _eng_fra(source: str, target: str) -> Pairs:
    if {source, target} != {"en", "fr"}:
        raise DataError(f"eng-fra has the languages en and fr, not {source}->{target} (task.source, task.target)")
    info = registry.DatasetInfo(name="eng-fra", task="seq2seq", description="", licence="", citation="",
                                source="file", folder="eng-fra", filename=ENG_FRA[1], url=ENG_FRA[0],
                                sha256=ENG_FRA[2], member=ENG_FRA[1])  # fmt: skip
    path = registry.fetch(info)
    kept = []
    for en, fr in _read_pair_lines(path):
        en, fr = normalise(en), normalise(fr)
        # the tutorial's filter: at most 10 words a side, English sentences of the form "i am", "he is", ...
        if len(en.split()) < 10 and len(fr.split()) < 10 and en.startswith(ENG_PREFIXES):
            kept.append((en, fr) if source == "en" else (fr, en))
    return Pairs(f"eng-fra ({source}->{target})", split_pairs(kept, 0), ENG_FRA[2], "word")


def _multi30k(source: str, target: str) -> Pairs:
    langs = ("de", "en", "fr")
    if source not in langs or target not in langs or source == target:
        raise DataError(f"multi30k has de, en and fr; {source}->{target} is not a pair of them")
    splits, digest = {}, hashlib.sha256()
    for split, stem in (("train", "train"), ("val", "val"), ("test", "test_2016_flickr")):
        sides = []
        for lang in (source, target):
            filename = f"{stem}.{lang}.gz"
            info = registry.DatasetInfo(name="multi30k", task="seq2seq", description="", licence="", citation="",
                                        source="file", folder="multi30k", filename=filename,
                                        url=MULTI30K_URL.format(filename), sha256=MULTI30K[filename])  # fmt: skip
            path = registry.fetch(info)
            digest.update(MULTI30K[filename].encode())
            sides.append([normalise(t) for t in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()])
        splits[split] = (sides[0], sides[1])
    return Pairs(f"multi30k ({source}->{target})", splits, digest.hexdigest(), "word")


def split_pairs(pairs: list[tuple[str, str]], seed: int, shares=(0.8, 0.1, 0.1)) -> dict[str, tuple[list, list]]:
    """A fixed seeded shuffle cut into train/val/test."""
    if len(pairs) < 10:
        raise DataError(f"only {len(pairs)} sentence pairs; give at least 10 (train, validation and test need some)")
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val, n_test = max(1, int(shares[1] * len(pairs))), max(1, int(shares[2] * len(pairs)))
    cut = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
    return {s: ([pairs[i][0] for i in cut[s]], [pairs[i][1] for i in cut[s]]) for s in SPLITS}


def synthetic(kind: str, n: int = 3000, length: int = 8, seed: int = 0) -> Pairs:
    """reverse / sort a random string of letters (lengths 1..length), or normalise a written date to ISO form."""
    if n < 10 or length < 1:
        raise DataError("task.data_args: n must be >= 10 and length >= 1")
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        if kind == "dates":
            y, m, d = int(rng.integers(1950, 2050)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
            style = int(rng.integers(3))
            src = [f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1][:3]} {y}", f"{m}/{d}/{y}"][style]
            pairs.append((src, f"{y}-{m:02d}-{d:02d}"))
            continue
        word = "".join(rng.choice(list("abcdefghij"), size=int(rng.integers(1, length + 1))))
        pairs.append((word, word[::-1] if kind == "reverse" else "".join(sorted(word))))
    digest = hashlib.sha256(repr((kind, n, length, seed)).encode()).hexdigest()
    return Pairs(f"synthetic-{kind}", split_pairs(pairs, seed), f"generated:{digest}", "char")


def listing() -> list[tuple[str, ...]]:
    """(name, task, size, defaults, period, licence, availability, description) of the sentence-pair sets, for
    `seqarena datasets`."""
    here = registry.data_dir()

    def where(folder: str) -> str:
        return "data dir" if here is not None and (here / folder).is_dir() else "download"

    rows = [
        ("eng-fra", "10,804 pairs (filtered)", "-", "-", "CC BY 2.0 FR (Tatoeba)", where("eng-fra"),
         "English-French, the PyTorch seq2seq tutorial's filter; seeded 80/10/10 split; en->fr or fr->en"),
        ("multi30k", "29,000 / 1,014 / 1,000", "-", "-", "non-commercial research (Flickr30K terms)", where("multi30k"),
         "image captions in de, en, fr; official splits (test_2016_flickr); de->en by default"),
    ]  # fmt: skip
    for kind in SYNTHETIC:
        rows.append((f"synthetic-{kind}", "configurable", "-", "-", "generated", "generated",
                     f"character task: {kind} (task.data_args: n, length, seed)"))  # fmt: skip
    return [(name, "seq2seq", *rest) for name, *rest in rows]
