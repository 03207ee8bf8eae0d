"""A run directory's lock: one process trains (or resumes) a run at a time. The lock is an OS file lock on
`<run>/.lock`, so a process killed in any way releases it and the next one takes it over (a stale lock file is
harmless); a second process is refused with one line naming the holder."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from seqarena.errors import SeqarenaError

try:
    import fcntl
except ImportError:  # not POSIX: no lock, the run proceeds as before
    fcntl = None  # type: ignore[assignment]

NAME = ".lock"


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / NAME
        self.handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        if fcntl is None:
            return self
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SeqarenaError(
                f"{self.path.parent} is being trained by {holder}; wait for it to finish or stop it, then --resume"
            ) from None
        if os.fstat(handle.fileno()).st_ino != os.stat(self.path).st_ino:  # the holder removed it meanwhile
            handle.close()
            return self.__enter__()
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            if self.path.exists():
                self.path.unlink()
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
