"""The typer app, and what its command groups share: one-line errors (exit 2), logging to stderr, --set handling."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from seqarena.errors import SeqarenaError

app = typer.Typer(
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, compare and ship sequence models on your own data.",
)


def _version(value: bool) -> None:
    if value:
        from seqarena.version import __version__

        print(f"seqarena {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Train, compare and ship sequence models on your own data."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def overrides(extra: list[str] | None = None, **options: str | None) -> list[str]:
    """--task/--data/--model/--tokenizer as --set assignments, before the explicit --set ones."""
    keys = {"task": "task.name", "data": "task.data", "model": "model.name", "tokenizer": "task.tokenizer"}
    return [f"{keys[k]}={v}" for k, v in options.items() if v] + list(extra or [])


def default_out(raw: dict | Path, assignments: list[str], prefix: str = "") -> Path:
    from seqarena.config import parse

    cfg = parse(raw, assignments)
    return Path("runs") / f"{prefix}{cfg.model.name}-{Path(cfg.task.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def rounded(metrics: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}


def main() -> None:
    from seqarena import logs

    logs.verbose()  # the Python API's progress messages, on stderr
    try:
        app()
    except SeqarenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; a run can continue with --resume", file=sys.stderr)
        sys.exit(130)
