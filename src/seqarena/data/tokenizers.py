"""Tokenizers for language modelling, each saved as JSON in the run directory: character, byte, word (with
<unk>, a minimum frequency and <eos> per line, the WikiText/PTB convention) and BPE trained with `tokenizers`."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from seqarena.errors import DataError

UNK, EOS = "<unk>", "<eos>"
BPE_DEFAULT_VOCAB = 8000


class Tokenizer:
    kind: ClassVar[str]
    vocab: list[str]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_corpus(self, text: str) -> np.ndarray:
        """A whole split as token ids (int64)."""
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def start_id(self) -> int:
        """The token generation starts from when the prompt is empty: a line break."""
        return self.encode("\n")[0]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab": self.vocab}


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        self.index = {c: i for i, c in enumerate(vocab)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError:
            offset = next(i for i, c in enumerate(text) if c not in self.index)
            c = text[offset]
            raise DataError(
                f"character {c!r} (U+{ord(c):04X}) at offset {offset} is not in the character vocabulary of "
                f"{len(self.vocab)} symbols learnt from the training text; remove it or use a byte/bpe tokenizer"
            ) from None

    def encode_corpus(self, text: str) -> np.ndarray:
        lookup = np.full(max(map(ord, self.vocab)) + 1, -1, dtype=np.int64)
        lookup[[ord(c) for c in self.vocab]] = np.arange(len(self.vocab))
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = lookup[np.minimum(codes, len(lookup) - 1)]
        bad = (ids < 0) | (codes >= len(lookup))
        if bad.any():
            self.encode(text[int(np.argmax(bad)) :])  # raises with the offending character
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] for i in ids)


class ByteTokenizer(Tokenizer):
    kind = "byte"

    def __init__(self) -> None:
        self.vocab = [f"<0x{b:02X}>" for b in range(256)]

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_corpus(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


class WordTokenizer(Tokenizer):
    """Whitespace-separated words, one <eos> per line; the vocabulary is ordered by frequency (most frequent first,
    which the adaptive softmax relies on); unknown words map to <unk>."""

    kind = "word"

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.unk = self.index[UNK]

    @classmethod
    def train(cls, text: str, min_freq: int = 1, max_size: int | None = None) -> WordTokenizer:
        counts = Counter(w for line in text.split("\n") for w in line.split())
        counts[EOS] = text.count("\n") + (not text.endswith("\n"))
        ranked = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_freq and w != UNK]
        if max_size is not None:
            ranked = ranked[: max(max_size - 1, 1)]
        return cls([*ranked, UNK])

    def _words(self, text: str, eos: bool) -> list[str]:
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
        words: list[str] = []
        for i, line in enumerate(lines):
            words.extend(line.split())
            if eos or i < len(lines) - 1:
                words.append(EOS)
        return words

    def encode_corpus(self, text: str) -> np.ndarray:
        get, unk = self.index.get, self.unk
        return np.fromiter((get(w, unk) for w in self._words(text, eos=True)), dtype=np.int64)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, self.unk) for w in self._words(text, eos=text.endswith("\n"))]

    def decode(self, ids: list[int]) -> str:
        out: list[str] = []
        for i in ids:
            word = self.vocab[i]
            if word == EOS:
                out.append("\n")
            else:
                out.append(word if not out or out[-1] == "\n" else " " + word)
        return "".join(out)

    def start_id(self) -> int:
        return self.index[EOS]


class BPETokenizer(Tokenizer):
    """Byte-level BPE learnt from the training split with the `tokenizers` library."""

    kind = "bpe"

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        size = tok.get_vocab_size()
        by_id = {i: t for t, i in tok.get_vocab().items()}
        self.vocab = [by_id.get(i, "") for i in range(size)]

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        )
        tok.train_from_iterator(_chunks(text), trainer=trainer)
        return cls(tok)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def encode_corpus(self, text: str) -> np.ndarray:
        encoded = self.tok.encode_batch(_chunks(text))
        return np.fromiter((i for e in encoded for i in e.ids), dtype=np.int64)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": json.loads(self.tok.to_str())}


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    """Line-aligned pieces of a corpus (ByteLevel pre-tokenization never merges across a line break)."""
    pieces, start = [], 0
    while start < len(text):
        end = text.find("\n", min(start + size, len(text)))
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def train_tokenizer(kind: str, text: str, vocab_size: int | None, min_freq: int) -> Tokenizer:
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "byte":
        return ByteTokenizer()
    if kind == "word":
        return WordTokenizer.train(text, min_freq, vocab_size)
    if kind == "bpe":
        size = vocab_size or BPE_DEFAULT_VOCAB
        if size < 257:
            raise DataError(f"task.vocab_size={size} is too small for byte-level BPE (at least 257)")
        return BPETokenizer.train(text, size)
    raise DataError(f"unknown tokenizer '{kind}' (tokenizers: char, byte, word, bpe)")


def from_json(data: dict[str, Any]) -> Tokenizer:
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(data["vocab"])
    if kind == "byte":
        return ByteTokenizer()
    if kind == "word":
        return WordTokenizer(data["vocab"])
    if kind == "bpe":
        from tokenizers import Tokenizer as HFTokenizer

        return BPETokenizer(HFTokenizer.from_str(json.dumps(data["tokenizer"])))
    raise DataError(f"tokenizer.json names an unknown tokenizer kind {kind!r}")
