"""Item-interaction sequences for next-item prediction: a user's items in time order. From a CSV/TSV/Parquet table
of interactions (user, item and, optionally, time columns), or the seeded `synthetic-sessions` set: items with
Zipf popularity where each item has a few likely successors, so the order of a user's items says what comes next
and a sequence model can beat recommending the most popular items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqarena.data.tables import read_table
from seqarena.errors import DataError

SYNTHETIC = "synthetic-sessions"


@dataclass
class Interactions:
    name: str
    users: list[str]
    sequences: list[list[str]]  # each user's items, oldest first
    sha256: str


def load_interactions(spec: str, user: str, item: str, time: str | None) -> Interactions:
    if spec == SYNTHETIC:
        return synthetic_sessions()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"task.data={spec!r} is neither {SYNTHETIC} nor an existing interaction table (CSV or Parquet)")
    frame = read_table(path)
    missing = [c for c in (user, item, time) if c is not None and c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} has no column {missing[0]!r} (columns: {', '.join(map(str, frame.columns))}); "
                        f"set task.user_column, task.item_column or task.time_column")  # fmt: skip
    if frame[[user, item]].isna().any().any():
        raise DataError(f"{path.name}: some rows have no {user} or {item}; drop them first")
    if time is not None:
        frame = frame.sort_values([user, time], kind="stable")  # ties keep the file's order
    users, sequences = [], []
    for key, rows in frame.groupby(user, sort=True):
        users.append(str(key))
        sequences.append([str(v) for v in rows[item]])
    return Interactions(path.name, users, sequences, hashlib.sha256(path.read_bytes()).hexdigest())


def synthetic_sessions(users: int = 1000, items: int = 400, seed: int = 0) -> Interactions:
    """Each next item is, with probability 0.7, one of its predecessor's three successors, else drawn by
    popularity (Zipf, exponent 1.1); sequences of 12 to 40 items."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 1.1
    popularity /= popularity.sum()
    successors = rng.integers(0, items, size=(items, 3))
    sequences = []
    for _ in range(users):
        seq = [int(rng.choice(items, p=popularity))]
        for _ in range(int(rng.integers(12, 41)) - 1):
            follow = rng.random() < 0.7
            seq.append(int(successors[seq[-1], rng.integers(3)]) if follow else int(rng.choice(items, p=popularity)))
        sequences.append([f"i{v}" for v in seq])
    text = "\n".join(" ".join(s) for s in sequences)
    return Interactions(SYNTHETIC, [f"u{i}" for i in range(users)], sequences,
                        hashlib.sha256(text.encode()).hexdigest())  # fmt: skip
