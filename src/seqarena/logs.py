"""Progress messages of the Python API go to the "seqarena" logger, which is silent until asked: call
`seqarena.verbose()` (or configure logging yourself) to see them on stderr. The `seqarena` command turns it on."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER = logging.getLogger("seqarena")
LOGGER.addHandler(logging.NullHandler())
_HANDLER: list[logging.Handler] = []


def info(message: str) -> None:
    LOGGER.info(message)


def verbose(on: bool = True, stream: TextIO | None = None) -> None:
    """Show (or, with on=False, hide again) seqarena's progress messages, one plain line each, on `stream`
    (default stderr)."""
    for handler in _HANDLER:
        LOGGER.removeHandler(handler)
    _HANDLER.clear()
    if on:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
        _HANDLER.append(handler)
        LOGGER.setLevel(logging.INFO)
