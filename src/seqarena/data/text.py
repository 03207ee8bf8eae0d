"""Text corpora for language modelling: registered corpora (standard splits, or nanoGPT's 90/10 for Tiny
Shakespeare) and any user text file or folder of .txt files, split by ratio at line boundaries (reproducible)."""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from seqarena.data import registry
from seqarena.data.download import sha256_file
from seqarena.errors import DataError
from seqarena.splits import SPLITS

USER_SPLIT = (0.9, 0.05, 0.05)


@dataclass
class Corpus:
    name: str
    texts: dict[str, str]  # split -> text
    sha256: str  # of the file(s) read, combined
    test_is_val: bool = False  # the corpus has no test split (Tiny Shakespeare): test = val
    default_tokenizer: str = "char"


def read_text(path: Path, encoding: str) -> str:
    """A text file decoded strictly; empty, binary or undecodable files are clear errors."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"unknown text encoding '{encoding}' (task.encoding); try utf-8 or latin-1") from None
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a text file, a folder of .txt files or a registered corpus")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty; a language model needs text to learn from")
    nul = raw.find(b"\x00")
    if nul >= 0 and not encoding.lower().replace("-", "").startswith("utf16"):
        raise DataError(f"{path} looks binary (a NUL byte at offset {nul}); give a plain text file")
    try:
        return raw.decode(encoding).replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid {encoding}: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded; "
            f"set task.encoding (e.g. latin-1) or convert the file"
        ) from None


def split_text(text: str, shares: tuple[float, ...], source: str) -> dict[str, str]:
    """Contiguous train/val/test pieces by share of characters, cut at the nearest line break after each bound."""
    if len(shares) != 3 or any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-6 or shares[0] <= 0:
        raise DataError(f"task.split must be three non-negative shares summing to 1, got {list(shares)}")
    bounds, acc = [0], 0.0
    for share in shares[:2]:
        acc += share
        cut = int(len(text) * acc)
        newline = text.find("\n", cut)
        bounds.append(max(bounds[-1], newline + 1 if 0 <= newline < cut + 2000 else cut))
    bounds.append(len(text))
    pieces = {s: text[bounds[i] : bounds[i + 1]] for i, s in enumerate(SPLITS)}
    for split, share in zip(SPLITS, shares, strict=True):
        if share > 0 and not pieces[split].strip():
            raise DataError(f"{source} is too short: its {split} split is empty; give more text or change task.split")
    return pieces


def _combined(digests: list[str]) -> str:
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


def load_corpus(spec: str, encoding: str, split: list[float] | None) -> Corpus:
    if registry.is_path(spec) or Path(spec).expanduser().is_dir():
        return _user_corpus(Path(spec).expanduser(), encoding, split)
    info = registry.get_info(spec, "lm")
    if split is not None:
        raise DataError(f"task.split is for user corpora; '{info.name}' has its standard splits")
    paths = {s: registry.fetch(info, filename, sha) for s, filename, sha in info.files}
    texts = {s: read_text(p, "utf-8") for s, p in paths.items()}
    digest = _combined([sha for _, _, sha in info.files])
    if "all" in texts:
        pieces = split_text(texts["all"], tuple(info.split), info.name)
        test_is_val = not pieces["test"]
        if test_is_val:
            pieces["test"] = pieces["val"]
        return Corpus(info.name, pieces, digest, test_is_val, info.tokenizer)
    return Corpus(info.name, texts, digest, False, info.tokenizer)


def _user_corpus(path: Path, encoding: str, split: list[float] | None) -> Corpus:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"{path} holds no .txt files; give a text file or a folder of .txt files")
    else:
        files = [path]
    text = "".join(t if t.endswith("\n") else t + "\n" for t in (read_text(f, encoding) for f in files))
    pieces = split_text(text, tuple(split or USER_SPLIT), str(path))
    test_is_val = not pieces["test"]
    if test_is_val:
        pieces["test"] = pieces["val"]
    if not pieces["val"].strip():
        raise DataError(f"task.split gives {path} no validation text; give the val split a share")
    return Corpus(path.stem, pieces, _combined([sha256_file(f) for f in files]), test_is_val)
