"""Databases that several processes open at once (a PostgreSQL results store or Optuna study): the first to open
one creates its tables, and a process that races it (PostgreSQL reports a duplicate type or table) tries again
after a moment instead of failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_RACES = ("already exists", "duplicate key", "UniqueViolation", "DuplicateTable", "database is locked")


def opened(open_it: Callable[[], T], attempts: int = 5) -> T:
    """`open_it()`, again up to `attempts` times while it fails because another process is creating the tables."""
    for attempt in range(attempts):
        try:
            return open_it()
        except Exception as exc:
            if attempt == attempts - 1 or not any(r in str(exc) for r in _RACES):
                raise
            time.sleep(0.3 * (attempt + 1))
    raise AssertionError("unreachable")


__all__ = ["opened"]
