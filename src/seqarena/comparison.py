"""`compare`: run an arena, then write its report. It sits above arena/ (which runs and stores) and report/ (which
reads the store), so those two never import each other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from seqarena import logs
from seqarena.arena.runner import run_arena
from seqarena.arena.spec import ArenaSpec, parse
from seqarena.report.render import write_report


def compare(
    spec: ArenaSpec | dict,
    out: str | Path,
    *,
    executor_name: str = "local",
    address: str | None = None,
    url: str | None = None,
    retry_failed: bool = False,
    log: Callable[[str], None] = logs.info,
) -> Path:
    """Train every entrant of the arena `spec` (an ArenaSpec or the dict of an arena YAML) that the results store
    lacks, then (re)write report.html and report.md; returns the report's path. From a script, call it under
    `if __name__ == "__main__":` (the process pool starts fresh interpreters)."""
    spec = parse(spec) if isinstance(spec, dict) else spec
    out = Path(out)
    run_arena(spec, out, executor_name=executor_name, address=address, url=url, retry_failed=retry_failed, log=log)
    return write_report(out, url)
