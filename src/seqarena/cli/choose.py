"""Commands that turn measurements into decisions: claims (the folklore checked) and advise (a shortlist, verified)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, log
from seqarena.errors import SeqarenaError


@app.command()
def claims(
    quick: Annotated[bool, typer.Option("--quick", help="the 30-minute scale (the default)")] = False,
    full: Annotated[bool, typer.Option("--full", help="more seeds, lengths and steps (hours)")] = False,
    tiny: Annotated[
        bool, typer.Option("--tiny", help="seconds per claim, to try the command (no real verdicts)")
    ] = False,
    only: Annotated[list[str] | None, typer.Option(help="run only this claim (repeatable; see --list)")] = None,
    out: Annotated[Path, typer.Option(help="where to write claims.json, claims.md and claims.html")] = Path("claims"),
    list_: Annotated[bool, typer.Option("--list", help="list the claims and exit")] = False,
) -> None:
    """Check the folklore about sequence models by experiment: each claim, where it is made, the experiment, the
    figures with 95% intervals and a verdict (holds / refuted / depends / pending)."""
    from seqarena.claims import check
    from seqarena.claims import claims as catalogue
    from seqarena.claims.base import select

    if list_:
        for c in select(only) if only else catalogue().values():
            print(f"{c.name:32s} {c.statement}")
        return
    if sum((quick, full, tiny)) > 1:
        raise SeqarenaError("give one of --quick, --full or --tiny")
    scale = "full" if full else "tiny" if tiny else "quick"
    doc = check(scale, only=only, out=out, log=log)
    width = max(len(c["name"]) for c in doc["claims"])
    for c in doc["claims"]:
        print(f"{c['name']:{width}s}  {c['verdict']:8s}  {c['because']}")
    print(f"{len(doc['claims'])} claims in {doc['seconds']:.0f} s; report: {out / 'claims.html'}")
