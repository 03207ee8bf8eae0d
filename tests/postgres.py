"""A real PostgreSQL server for the tests that share a store: Debian's `postgresql` binaries (initdb, pg_ctl),
a throwaway cluster on a Unix socket in a temporary folder, trust authentication, stopped and removed after.
As root the server runs as the `postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def server(bindir: Path) -> Iterator[str]:
    """Start a cluster; yield a SQLAlchemy URL prefix (append a database name)."""
    root = Path(tempfile.mkdtemp(prefix="seqarena-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = 54000 + os.getpid() % 1000
    run = lambda *a: subprocess.run(_as_server_user([str(bindir / a[0]), *a[1:]]), check=True,  # noqa: E731
                                    capture_output=True, text=True)  # fmt: skip
    try:
        run("initdb", "-D", str(data), "-U", "seqarena", "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start")
        yield f"postgresql+psycopg://seqarena@/{{db}}?host={sock}&port={port}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)  # fmt: skip
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)


def create_database(url_template: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url_template.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url_template.format(db=name)
