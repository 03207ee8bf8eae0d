"""The `seqarena` command: a thin typer layer over the Python API, one module per command group. User errors print
one line and exit 2."""

from seqarena.cli import arena, choose, deploy, doctor, info, runs, tune  # noqa: F401 - each registers its commands on the app
from seqarena.cli.app import app, main

__all__ = ["app", "main"]
