"""The results store: one row per finished run, keyed by the hash of its resolved config. SQLite in the arena
directory by default (embedded, no server); any SQLAlchemy URL (e.g. PostgreSQL) when machines share an arena."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import sqlalchemy as sa

from seqarena.errors import SeqarenaError
from seqarena.files import dumps
from seqarena.shared_db import opened

_META = sa.MetaData()
RUNS = sa.Table(
    "runs",
    _META,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok | failed
    sa.Column("error", sa.Text),
    sa.Column("config", sa.Text, nullable=False),  # JSON: the run config
    sa.Column("result", sa.Text),  # JSON: metrics, profile, history
    sa.Column("finished_at", sa.Float, nullable=False),
)

CLAIMS = sa.Table(  # which process trains a run now, so processes sharing a store (PostgreSQL) split the work
    "claims",
    _META,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),  # host:pid
    sa.Column("claimed_at", sa.Float, nullable=False),
)
STALE_SECONDS = 24 * 3600  # a claim from another machine that old is taken over (its process is presumed dead)


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(claim_owner: str, now: float, claimed_at: float) -> bool:
    host, _, pid = claim_owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return now - claimed_at < STALE_SECONDS


class Store:
    def __init__(self, url: str) -> None:
        try:
            self.engine = sa.create_engine(url)
            opened(lambda: _META.create_all(self.engine))  # processes sharing a server may race to create
            if self.engine.dialect.name == "sqlite":
                with self.engine.connect() as conn:
                    verdict = conn.execute(sa.text("PRAGMA integrity_check")).scalar()
                if verdict != "ok":
                    raise sa.exc.DatabaseError("PRAGMA integrity_check", {}, Exception(str(verdict)))
        except (sa.exc.ArgumentError, sa.exc.DatabaseError, ImportError) as exc:
            first = str(exc).splitlines()[0]
            raise SeqarenaError(
                f"cannot open the results store {url!r} ({first}); give a valid SQLAlchemy URL, or move a damaged "
                f"results.db aside and run the arena again (its finished runs are retrained)"
            ) from None

    def statuses(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.key: r.status for r in conn.execute(sa.select(RUNS.c.key, RUNS.c.status))}

    def put(self, row: dict[str, Any]) -> None:
        values = {
            "key": row["key"],
            "label": row["label"],
            "model": row["model"],
            "seed": row["seed"],
            "status": row["status"],
            "error": row.get("error"),
            "config": dumps(row["config"]),
            "result": dumps(row.get("result")),
            "finished_at": time.time(),
        }
        with self.engine.begin() as conn:
            conn.execute(sa.delete(RUNS).where(RUNS.c.key == row["key"]))
            conn.execute(sa.insert(RUNS).values(**values))

    def claim(self, key: str, who: str) -> bool:
        """Take the run `key` for process `who`; False when another live process holds it (or it is finished)."""
        now = time.time()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(RUNS.c.status).where(RUNS.c.key == key)).scalar() == "ok":
                return False
            held = conn.execute(sa.select(CLAIMS).where(CLAIMS.c.key == key)).first()
            if held is not None and held.owner != who and _alive(held.owner, now, held.claimed_at):
                return False
            if held is not None:
                conn.execute(sa.delete(CLAIMS).where(CLAIMS.c.key == key, CLAIMS.c.owner == held.owner))
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(CLAIMS).values(key=key, owner=who, claimed_at=now))
        except sa.exc.IntegrityError:  # another process inserted its claim between our read and write
            return False
        return True

    def release(self, key: str, who: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(CLAIMS).where(CLAIMS.c.key == key, CLAIMS.c.owner == who))

    def claimed_elsewhere(self, keys: list[str], who: str) -> list[str]:
        """Of `keys` not yet in the store, those a live other process holds."""
        now = time.time()
        with self.engine.connect() as conn:
            done = {r.key for r in conn.execute(sa.select(RUNS.c.key))}
            held = list(conn.execute(sa.select(CLAIMS)))
        return [c.key for c in held if c.key in keys and c.key not in done and c.owner != who
                and _alive(c.owner, now, c.claimed_at)]  # fmt: skip

    def rows(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            out = {}
            for r in conn.execute(sa.select(RUNS)):
                try:
                    config, result = json.loads(r.config), json.loads(r.result or "null")
                except ValueError:
                    raise SeqarenaError(f"the results store holds a damaged row ({r.key}); run it again") from None
                out[r.key] = {
                    "key": r.key,
                    "label": r.label,
                    "model": r.model,
                    "seed": r.seed,
                    "status": r.status,
                    "error": r.error,
                    "config": config,
                    "result": result,
                }
            return out
