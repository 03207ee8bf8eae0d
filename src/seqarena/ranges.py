"""The allowed range of every numeric option, checked once when a config is built: a value outside it is a
ConfigError naming the key, the value and the range, never a silent default or a traceback later.

A field declares its range with `opt(default, range)` (its metadata). Keys of the shared config vocabulary
(`d_model`, `num_layers`, `dropout`, ...) have one range wherever they appear, so a model's own Config gets them
without declaring anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from seqarena.errors import ConfigError


@dataclass(frozen=True)
class Range:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is outside
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        return not (self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return f"{'<' if self.hi_open else '<='} {self.hi:g}"


def at_least(n: float) -> Range:
    return Range(lo=n)


POSITIVE = Range(lo=0, lo_open=True)
NON_NEGATIVE = Range(lo=0)
FRACTION = Range(0, 1, hi_open=True)  # [0, 1): dropout, a held-out share
UNIT = Range(0, 1)  # [0, 1]
OPEN_UNIT = Range(0, 1, lo_open=True, hi_open=True)  # (0, 1): a moving-average decay

VOCABULARY: dict[str, Range] = {  # the same key, the same range, in every model and task config
    "d_model": at_least(1),
    "num_layers": at_least(1),
    "num_heads": at_least(1),
    "d_ff": at_least(1),
    "d_state": at_least(1),
    "kernel_size": at_least(1),
    "dropout": FRACTION,
    "params": at_least(1),
    "max_len": at_least(1),
    "period": at_least(1),
}


def opt(default: Any, valid: Range) -> Any:
    """A dataclass field with a default and its allowed range."""
    return dataclasses.field(default=default, metadata={"range": valid})


def check(section: Any, prefix: str) -> None:
    """Every numeric field of a config section inside its range (None means "not set" and passes)."""
    for f in dataclasses.fields(section):
        valid = f.metadata.get("range") or VOCABULARY.get(f.name)
        if valid is None:
            continue
        value = getattr(section, f.name)
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in valid:
                raise ConfigError(f"{prefix}.{f.name}={value!r} is out of range: it must be {valid}")
