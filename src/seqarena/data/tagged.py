"""Tagged sentences for sequence labelling (one tag per token): CoNLL-format files, the Japanese named-entity
corpus shipped in the `hironsancorpus` package, and a seeded synthetic named-entity set whose ambiguous entities
are told apart only by the word after them (so a bidirectional tagger can beat a causal one).

CoNLL format: one token per line, whitespace- or tab-separated columns (the token first, the tag in the last
column unless told otherwise), a blank line between sentences; `-DOCSTART-` lines are skipped. A folder holding
train/dev (or valid)/test files keeps that official split.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqarena.errors import DataError
from seqarena.extras import need

SYNTHETIC = "synthetic-ner"
HIRONSAN = "hironsan"  # 500 Japanese news sentences, IOB2 tags (ART, DAT, LOC, ORG, PSN, ...), MIT licence
HIRONSAN_FILE = "hironsan/corpus/iob_sents.txt"
HIRONSAN_SHA = "fc55bffe080deea3b63f9923cd33ee9a96b500a997d5719b4a5c03d216ef2a3e"
NAMES = (HIRONSAN, SYNTHETIC)
_SPLIT_FILES = {"train": ("train",), "val": ("dev", "valid", "val", "testa"), "test": ("test", "testb")}


@dataclass
class TaggedSet:
    name: str
    tokens: list[list[str]]  # sentences of tokens
    tags: list[list[str]]  # one tag per token
    official: list[str] | None  # "train"/"val"/"test" per sentence from the source's files, else None
    sha256: str  # of the file(s) read, or of the generated text


def load_tagged(spec: str, column: int = -1) -> TaggedSet:
    """A registered tagged corpus by name, or a CoNLL file or folder (train/dev/test files) by path."""
    if spec == HIRONSAN:
        return _hironsan()
    if spec == SYNTHETIC:
        return synthetic_ner()
    path = Path(spec).expanduser()
    if path.is_dir():
        return _read_folder(path, column)
    if path.is_file():
        tokens, tags, digest = read_conll(path, column)
        return TaggedSet(path.name, tokens, tags, None, digest)
    raise DataError(
        f"task.data={spec!r} is neither a tagged corpus ({', '.join(NAMES)}) nor an existing CoNLL file or folder"
    )


def read_conll(path: Path, column: int = -1, tagged: bool = True) -> tuple[list[list[str]], list[list[str]], str]:
    """Sentences of tokens and their tags (`column` counts the whitespace-separated columns; -1 is the last), and
    the file's sha256. With tagged=False only the tokens are read (tags come back empty)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid utf-8 (byte {exc.start}); save it as utf-8") from None
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    for number, line in enumerate(text.splitlines() + [""], start=1):
        fields = line.split()
        if fields and fields[0] == "-DOCSTART-":
            continue
        if not fields:
            if words:
                tokens.append(words)
                tags.append(labels)
            words, labels = [], []
            continue
        words.append(fields[0])
        if tagged:
            if len(fields) < 2 or not -len(fields) <= column < len(fields) or column in (0, -len(fields)):
                raise DataError(
                    f"{path}, line {number}: expected a token and a tag in column {column} ("
                    f"{len(fields)} column(s) found); CoNLL files hold one 'token ... tag' line per token"
                )
            labels.append(fields[column])
    if not tokens:
        raise DataError(f"{path} holds no sentences (one token per line, a blank line between sentences)")
    return tokens, tags, hashlib.sha256(raw).hexdigest()


def _read_folder(path: Path, column: int) -> TaggedSet:
    found: dict[str, Path] = {}
    for file in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        parts = set(re.split(r"[._-]", file.name.lower()))  # eng.train, dev.conll, ner-test.txt
        for split, stems in _SPLIT_FILES.items():
            if parts & set(stems):
                if split in found:
                    raise DataError(f"{path} holds two {split} files ({found[split].name}, {file.name}); keep one")
                found[split] = file
    if "train" not in found:
        raise DataError(f"{path} has no train file; a folder of CoNLL files needs train (and dev/valid, test) files")
    tokens, tags, official = [], [], []
    digest = hashlib.sha256()
    for split, file in found.items():
        t, g, sha = read_conll(file, column)
        tokens += t
        tags += g
        official += [split] * len(t)
        digest.update(f"{file.name}:{sha}\n".encode())
    return TaggedSet(path.name, tokens, tags, official, digest.hexdigest())


def _hironsan() -> TaggedSet:
    """The corpus file inside the installed package, located without importing the package (nothing of it is run
    or unpickled) and checked against its known sha256."""
    need("seqeval", "label")  # the same extra installs both
    try:
        dist = importlib.metadata.distribution("hironsancorpus")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"task.data={HIRONSAN} needs hironsancorpus: pip install 'seqarena[label]'") from None
    path = Path(str(dist.locate_file(HIRONSAN_FILE)))
    if not path.is_file():
        raise DataError(
            f"the installed hironsancorpus lacks {HIRONSAN_FILE}; reinstall it: pip install 'seqarena[label]'"
        )
    tokens, tags, digest = read_conll(path, column=-1)
    if digest != HIRONSAN_SHA:
        raise DataError(f"{path} has sha256 {digest}, not the known {HIRONSAN_SHA}; reinstall hironsancorpus 0.1.2")
    return TaggedSet(HIRONSAN, tokens, tags, None, digest)


_TYPES = ("PER", "LOC", "ORG")
_CUES = {"PER": ("said", "smiled", "wrote"), "LOC": ("borders", "flooded", "hosts"), "ORG": ("hired", "merged", "sued")}
_FILLER = ("the", "a", "on", "today", "again", "and", "then", "quietly", "in", "new", "old", "report", "after")


def synthetic_ner(sentences: int = 2000, seed: int = 0) -> TaggedSet:
    """Seeded IOB2 sentences of filler words and 1-3 word entities, each followed by a verb that reveals its type
    (PER said, LOC borders, ORG hired). Half the entity words belong to one type only; the others occur as any
    type, so only the word after the entity tells their tag: reading the future pays."""
    rng = np.random.default_rng(seed)
    pools = {t: [_word(rng) for _ in range(40)] for t in _TYPES}
    shared = [_word(rng) for _ in range(60)]
    tokens, tags = [], []
    for _ in range(sentences):
        words: list[str] = []
        labels: list[str] = []
        for _ in range(int(rng.integers(1, 4))):  # clauses
            fill = [str(rng.choice(_FILLER)) for _ in range(int(rng.integers(0, 4)))]
            words += fill
            labels += ["O"] * len(fill)
            kind = _TYPES[int(rng.integers(len(_TYPES)))]
            for i in range(int(rng.integers(1, 4))):
                pool = shared if rng.random() < 0.5 else pools[kind]
                words.append(str(rng.choice(pool)))
                labels.append(("B-" if i == 0 else "I-") + kind)
            words.append(str(rng.choice(_CUES[kind])))
            labels.append("O")
        tokens.append(words)
        tags.append(labels)
    text = "\n\n".join(
        "\n".join(f"{w} {t}" for w, t in zip(s, g, strict=True)) for s, g in zip(tokens, tags, strict=True)
    )
    return TaggedSet(SYNTHETIC, tokens, tags, None, hashlib.sha256(text.encode()).hexdigest())


def _word(rng: np.random.Generator) -> str:
    syllables = ("ka", "lo", "mi", "ren", "to", "sa", "vi", "dor", "el", "na", "qu", "ber", "zu", "fa")
    return "".join(str(rng.choice(syllables)) for _ in range(int(rng.integers(2, 4)))).capitalize()


def listing() -> list[tuple[str, ...]]:
    """(name, task, size, defaults, period, licence, availability, description) of the tagged corpora, for
    `seqarena datasets`."""
    try:
        importlib.metadata.distribution("hironsancorpus")
        here = "installed"
    except importlib.metadata.PackageNotFoundError:
        here = "pip install 'seqarena[label]'"
    return [
        (HIRONSAN, "tag", "500 sentences, 15,520 tokens", "-", "-", "MIT (hironsancorpus)", here,
         "Japanese news, IOB2 named entities (ART, DAT, LOC, MON, ORG, PER, PSN, TIM); seeded 80/10/10 split"),
        (SYNTHETIC, "tag", "2,000 sentences", "-", "-", "generated", "generated",
         "IOB2 PER/LOC/ORG; half the entity words are ambiguous, told apart only by the next word"),
    ]  # fmt: skip
