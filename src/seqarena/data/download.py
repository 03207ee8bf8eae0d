"""Download into the cache with a progress bar, verify sha256, and never leave a half-written file behind."""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from seqarena.errors import DataError
from seqarena.files import atomic_write_bytes

_VERIFIED: dict[tuple[str, float, int], str] = {}  # (path, mtime, size) -> sha256, so a file is hashed once


def sha256_file(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key not in _VERIFIED:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _VERIFIED[key] = digest.hexdigest()
    return _VERIFIED[key]


def verify(path: Path, sha256: str) -> None:
    actual = sha256_file(path)
    if actual != sha256:
        raise DataError(
            f"{path} has sha256 {actual[:12]}..., expected {sha256[:12]}...: the file is corrupted or a different "
            f"version; delete it and run again to download a fresh copy"
        )


def _fetch(url: str, show_progress: bool) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (URLs come from the registry)
            total = int(response.headers.get("Content-Length") or 0)
            buffer = io.BytesIO()
            if show_progress:
                from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

                columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
                with Progress(*columns, transient=True) as bar:
                    task = bar.add_task(f"downloading {url.rsplit('/', 1)[-1]}", total=total or None)
                    for block in iter(lambda: response.read(1 << 16), b""):
                        buffer.write(block)
                        bar.advance(task, len(block))
            else:
                shutil.copyfileobj(response, buffer)
            return buffer.getvalue()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {url} ({reason}); check the network, or put the file in SEQARENA_DATA_DIR"
        ) from None


def download(url: str, dest: Path, sha256: str, member: str | None = None) -> Path:
    """Fetch `url` (optionally one `member` of a zip archive) to `dest`, verified against `sha256`."""
    payload = _fetch(url, show_progress=sys.stderr.isatty())
    if member is not None:
        try:
            payload = zipfile.ZipFile(io.BytesIO(payload)).read(member)
        except (zipfile.BadZipFile, KeyError):
            raise DataError(f"{url} is not a zip archive holding {member}; the source has changed") from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != sha256:
        raise DataError(
            f"download of {url} has sha256 {actual[:12]}..., expected {sha256[:12]}...: corrupted or changed at the "
            f"source; nothing was saved, try again later"
        )
    return _write_atomic(dest, payload)


def save_url(url: str, dest: Path) -> Path:
    """Fetch `url` to `dest` unverified, for sources the caller checks itself (e.g. by their decompressed bytes)."""
    return _write_atomic(dest, _fetch(url, show_progress=sys.stderr.isatty()))


def _write_atomic(dest: Path, payload: bytes) -> Path:
    atomic_write_bytes(dest, payload)
    return dest
