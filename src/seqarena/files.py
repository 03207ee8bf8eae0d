"""Atomic file writes: a temporary file beside the target, then one rename, so a reader or a kill never sees half a
file. Every file seqarena writes (run and arena directories, predictions, downloads, reports) goes through here."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from seqarena.errors import SeqarenaError


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file in the target's folder; it replaces `path` only when the block ends normally."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode a plain open would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(payload)


def finite(data: Any) -> Any:
    """`data` with every NaN or infinite float replaced by None, so it is strict JSON (a status says why)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def dumps(data: Any, indent: int | None = None) -> str:
    """Strict JSON text: never a bare NaN or Infinity, which most parsers reject."""
    return json.dumps(finite(data), indent=indent, allow_nan=False)


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, dumps(data, indent=2) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def readable(path: str | Path) -> None:
    """Give a file a library wrote itself (safetensors writes 0600) the mode a plain open would: 0644 under the
    usual umask."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: Path, option: str) -> None:
    """The nearest existing folder above `path` is a folder we may write into."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SeqarenaError(f"{option} {path}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SeqarenaError(f"{option} {path}: {ancestor} is not writable; choose another path")


def check_output_file(path: str | Path, option: str = "--output") -> None:
    """A file to (over)write: not a folder, in a writable place; "-" means standard output."""
    if str(path) == "-":
        return
    path = Path(path)
    if path.is_dir():
        raise SeqarenaError(f"{option} {path} is a folder; give a file name (or - for standard output)")
    check_writable(path, option)


def check_output_dir(path: str | Path, option: str, *, may_exist: str | None = None) -> None:
    """A folder to write into: not a file, in a writable place, and, if it exists and holds anything, one that holds
    `may_exist` (the marker of what the command continues: a run's config.yaml, an arena's arena.yaml)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SeqarenaError(f"{option} {path} is a file; give a folder")
    if path.is_dir() and any(path.iterdir()) and (may_exist is None or not (path / may_exist).is_file()):
        what = f"holds no {may_exist}" if may_exist else "is not empty"
        raise SeqarenaError(f"{option} {path} already exists and {what}; choose a new {option}")
    check_writable(path, option)
