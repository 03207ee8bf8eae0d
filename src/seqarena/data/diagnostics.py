"""The long-range diagnostic problems, generated in memory from a seed: each returns inputs, targets and a mask of
the positions that are scored. Shapes are (N, T) for token problems and (N, T, 2) for the adding problem.

- adding (Hochreiter & Schmidhuber 1997; the TCN protocol): two channels, random values in [0, 1) and a marker
  that is 1 at one position in each half; the target is the sum of the two marked values.
- copy memory (the TCN protocol): 10 symbols from 1..8, T-1 blanks (0), a delimiter (9), 10 blanks; the last 10
  outputs must repeat the symbols, every other output is a blank.
- selective copying (Mamba paper): `tokens` symbols scattered at random positions among blanks, then as many
  markers; at the markers the symbols must come out in their order.
- multi-query associative recall (Zoology): key-value pairs at the start, then the keys again at random places
  among noise; the token after each queried key must be its value.
- induction heads (Olsson et al.; H3 and Mamba papers): random tokens with one trigger token followed by the
  answer; the sequence ends with the trigger and the next token must be the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Problem:
    x: torch.Tensor  # (N, T) long, or (N, T, 2) float for adding
    y: torch.Tensor  # (N, T) long targets, or (N,) float for adding
    scored: torch.Tensor  # (N, T) bool: the positions the loss counts ((N, 1) True for adding)
    answers: torch.Tensor | None = None  # (N, T) bool: the positions accuracy counts (default: scored)


COPY_SYMBOLS, COPY_RECALL = 8, 10


def adding(n: int, length: int, g: torch.Generator) -> Problem:
    values = torch.rand(n, length, generator=g)  # (N, T)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    marker = torch.zeros(n, length)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]  # (N,)
    return Problem(torch.stack([values, marker], dim=-1), y, torch.ones(n, 1, dtype=torch.bool))


def copy_memory(n: int, blanks: int, g: torch.Generator) -> Problem:
    """Vocabulary 10: 0 blank, 1..8 symbols, 9 delimiter; sequences of blanks + 20 steps."""
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (n, COPY_RECALL), generator=g)  # (N, 10)
    total = blanks + 2 * COPY_RECALL
    x = torch.zeros(n, total, dtype=torch.long)
    x[:, :COPY_RECALL] = symbols
    x[:, COPY_RECALL + blanks - 1] = COPY_SYMBOLS + 1
    y = torch.zeros(n, total, dtype=torch.long)
    y[:, -COPY_RECALL:] = symbols
    answers = torch.zeros(n, total, dtype=torch.bool)
    answers[:, -COPY_RECALL:] = True
    return Problem(x, y, torch.ones(n, total, dtype=torch.bool), answers)


def selective_copy(n: int, length: int, tokens: int, vocab: int, g: torch.Generator) -> Problem:
    """Vocabulary: 0 blank, 1..vocab-2 symbols, vocab-1 the marker; sequences of length + tokens steps."""
    if tokens > length:
        raise ValueError(f"{tokens} tokens do not fit in {length} positions")
    symbols = torch.randint(1, vocab - 1, (n, tokens), generator=g)  # (N, k)
    where = torch.rand(n, length, generator=g).argsort(dim=1)[:, :tokens].sort(dim=1).values  # (N, k) in order
    x = torch.zeros(n, length + tokens, dtype=torch.long)
    x.scatter_(1, where, symbols)
    x[:, length:] = vocab - 1
    y = torch.zeros_like(x)
    y[:, length:] = symbols
    scored = torch.zeros_like(x, dtype=torch.bool)
    scored[:, length:] = True
    return Problem(x, y, scored)


def mqar(n: int, length: int, pairs: int, vocab: int, g: torch.Generator) -> Problem:
    """Keys from the lower half of the vocabulary, values from the upper half; noise anywhere. Next-token form:
    x = sequence[:-1], y = sequence[1:], scored where x is a queried key."""
    if 4 * pairs > length:
        raise ValueError(f"{pairs} key-value pairs and their queries need length >= {4 * pairs}")
    half = vocab // 2
    keys = torch.rand(n, half, generator=g).argsort(dim=1)[:, :pairs]  # (N, P) distinct keys
    values = torch.randint(half, vocab, (n, pairs), generator=g)  # (N, P)
    seq = torch.randint(0, vocab, (n, length + 1), generator=g)  # noise
    seq[:, 0 : 2 * pairs : 2], seq[:, 1 : 2 * pairs : 2] = keys, values
    slots = (length + 1 - 2 * pairs) // 2  # query slots of two tokens after the pairs
    chosen = torch.rand(n, slots, generator=g).argsort(dim=1)[:, :pairs]  # (N, P) which slots hold a query
    order = torch.rand(n, pairs, generator=g).argsort(dim=1)  # keys asked in a random order
    at = 2 * pairs + 2 * chosen  # (N, P) position of each query key
    seq.scatter_(1, at, keys.gather(1, order))
    seq.scatter_(1, at + 1, values.gather(1, order))
    scored = torch.zeros(n, length, dtype=torch.bool)
    scored.scatter_(1, at, True)
    return Problem(seq[:, :-1], seq[:, 1:], scored)


def induction(n: int, length: int, vocab: int, g: torch.Generator) -> Problem:
    """Vocabulary: 0 the trigger, 1..vocab-1 ordinary tokens; the trigger appears once in the first half, then at
    the end; the answer is the token after its first appearance."""
    seq = torch.randint(1, vocab, (n, length + 1), generator=g)
    at = torch.randint(0, max(1, length // 2), (n,), generator=g)
    rows = torch.arange(n)
    seq[rows, at] = 0
    seq[:, length - 1] = 0
    seq[:, length] = seq[rows, at + 1]
    scored = torch.zeros(n, length, dtype=torch.bool)
    scored[:, -1] = True
    return Problem(seq[:, :-1], seq[:, 1:], scored)
