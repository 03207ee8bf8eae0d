"""`seqarena claims`: the folklore about sequence models as named, seeded experiments with verdicts.

from seqarena.claims import check
doc = check("quick", only=["gru_parameters"], out="claims")   # claims.json / .md / .html in out
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqarena import logs
from seqarena.claims.base import SCALES, Claim, Finding, claims, select
from seqarena.errors import ConfigError, SeqarenaError

__all__ = ["SCALES", "Claim", "Finding", "check", "claims"]


def _command(name: str, scale: str) -> str:
    return f"seqarena claims --{scale} --only {name}" if scale != "tiny" else f"seqarena claims --only {name}"


def check(
    scale: str = "quick",
    only: list[str] | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] = logs.info,
) -> dict[str, Any]:
    """Run the claims (all, or those named) at a scale; with `out`, write claims.json, claims.md and claims.html
    there. Returns the document written."""
    import torch

    from seqarena.claims import measure, report
    from seqarena.files import check_output_dir

    if scale not in SCALES:
        raise ConfigError(f"unknown scale '{scale}' (scales: {', '.join(SCALES)})")
    chosen = select(only)
    if out is not None:
        check_output_dir(Path(out), "--out", may_exist="claims.json")
    started = time.perf_counter()
    results = []
    work = Path(tempfile.mkdtemp(prefix="seqarena-claims-"))
    try:
        for i, c in enumerate(chosen, start=1):
            log(f"[{i}/{len(chosen)}] {c.name}: {c.experiment[:90]}...")
            t0 = time.perf_counter()
            torch.manual_seed(0)
            try:
                finding = c.run(c.sizes[scale], work / c.name)
            except SeqarenaError as exc:  # data or an extra this machine lacks: said, and the others go on
                finding = Finding("pending", f"could not run here: {str(exc).splitlines()[0]}")
            seconds = time.perf_counter() - t0
            log(f"      {finding.verdict}: {finding.because} ({seconds:.0f} s)")
            results.append(
                {
                    "name": c.name,
                    "statement": c.statement,
                    "source": c.source,
                    "experiment": c.experiment,
                    "sizes": c.sizes[scale],
                    "verdict": finding.verdict,
                    "because": finding.because,
                    "figures": [dataclasses.asdict(f) for f in finding.figures],
                    "table": finding.table,
                    "command": _command(c.name, scale),
                    "seconds": seconds,
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        measure.clear()
    doc = {
        "scale": scale,
        "seconds": time.perf_counter() - started,
        "environment": {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "claims": results,
    }
    if out is not None:
        report.write(Path(out), doc)
    return doc
