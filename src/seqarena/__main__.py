"""`python -m seqarena` is the `seqarena` command."""

from seqarena.cli import main

main()
