"""An arena's results as leaderboards: the store's rows joined with the spec's plans, per sweep point, ranked on
the task's primary metric. The report and the CLI read arenas through here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from seqarena.arena import spec as arena_spec
from seqarena.arena.stats import leaderboard
from seqarena.arena.store import Store
from seqarena.errors import SeqarenaError


def store_url(arena_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{(arena_dir / 'results.db').resolve()}"


def collect(arena_dir: Path, url: str | None = None) -> tuple[arena_spec.ArenaSpec, list[dict[str, Any]]]:
    """The arena's spec and, per sweep point, its entries and leaderboard lines."""
    if not (arena_dir / "arena.yaml").is_file():
        raise SeqarenaError(f"{arena_dir} is not an arena directory (no arena.yaml); run `seqarena compare` first")
    try:
        raw = yaml.safe_load((arena_dir / "arena.yaml").read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise SeqarenaError(f"{arena_dir / 'arena.yaml'} is not valid YAML; run `seqarena compare` again") from None
    spec = arena_spec.parse(raw)
    task_cls = arena_spec.task_class(spec)
    rows = Store(store_url(arena_dir, url)).rows()
    points: dict[str, dict[str, Any]] = {}
    for plan in arena_spec.expand(spec):
        if plan.key in rows:
            name = json.dumps(plan.point, default=str)
            point = points.setdefault(name, {"point": plan.point, "entries": []})
            point["entries"].append({"label": plan.label, "seed": plan.seed, "row": rows[plan.key]})
    for point in points.values():
        point["board"] = leaderboard(point["entries"], task_cls)
    return spec, list(points.values())
