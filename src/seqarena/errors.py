"""One error type for everything a user can get wrong: the CLI prints its message on one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SeqarenaError(Exception):
    """A user-facing problem (bad input, bad option, missing file) with a message that says how to fix it."""


class ConfigError(SeqarenaError):
    """An unknown key, a wrong type, or a value outside the allowed set."""


class DataError(SeqarenaError):
    """A missing, empty, malformed or corrupted dataset."""


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """ "; did you mean 'x'?" for the option closest to `name` (with `prefix` before it), or "" if none is close."""
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""
