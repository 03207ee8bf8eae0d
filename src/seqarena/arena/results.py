"""An arena's results as leaderboards: the store's rows joined with the spec's plans, per sweep point, ranked on
the task's primary metric. The report and the CLI read arenas through here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from seqarena.arena import spec as arena_spec
from seqarena.arena.stats import leaderboard, rank_key
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
    plans = arena_spec.expand(spec)
    if spec.budget.get("tune"):
        from seqarena.arena import tuning

        tuning.apply(plans, tuning.load_chosen(arena_dir))
    for plan in plans:
        if plan.key in rows:
            name = json.dumps(plan.point, default=str)
            point = points.setdefault(name, {"point": plan.point, "entries": []})
            point["entries"].append({"label": plan.label, "seed": plan.seed, "row": rows[plan.key]})
    for point in points.values():
        point["board"] = leaderboard(point["entries"], task_cls)
    return spec, list(points.values())


EXTRA_KEYS = (("size_bytes", "size bytes"), ("peak_rss_mb", "peak RSS MB"), ("rss_over_idle_mb", "RSS over idle MB"))


def records(spec: arena_spec.ArenaSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """The leaderboards as data: one row per entrant and sweep point, rank first, each figure's mean with its
    spread (low/high: the 95% interval with three or more seeds, the min-max with two)."""
    task_cls = arena_spec.task_class(spec)
    columns = arena_spec.board_columns(spec)
    rows = []
    for p in points:
        sweep = {f"sweep.{k}": v for k, v in p["point"].items()}
        ranked = [b for b in p["board"] if b.get("runs")]
        for b in p["board"]:
            row: dict[str, Any] = {**sweep, "rank": ranked.index(b) + 1 if b in ranked else None,
                                   "model": b["label"], "runs": b.get("runs", 0), "failed": b.get("failed", 0),
                                   "interval": b.get("interval")}  # fmt: skip
            for c in columns:
                row[c.key] = b.get(c.key)
                if c.ci:
                    row[f"{c.key}_low"], row[f"{c.key}_high"] = b.get(f"{c.key}_lo"), b.get(f"{c.key}_hi")
            row |= {key: b.get(key) for key, _ in EXTRA_KEYS}
            row["error"] = b.get("error")
            rows.append(row)
    metric = task_cls.metric
    return {
        "task": task_cls.name,
        "data": spec.task.get("data") or task_cls.Config().data,
        "ranked_on": rank_key(task_cls),
        "higher_is_better": metric.higher_is_better,
        "seeds": spec.seeds,
        "columns": {c.key: c.header for c in columns} | dict(EXTRA_KEYS),
        "rows": rows,
    }


def to_csv(board: dict[str, Any]) -> str:
    import pandas as pd

    return pd.DataFrame(board["rows"]).to_csv(index=False, lineterminator="\n")


def write_leaderboards(arena_dir: Path, spec: arena_spec.ArenaSpec, points: list[dict[str, Any]]) -> None:
    """leaderboard.json and leaderboard.csv beside the report."""
    from seqarena.files import atomic_write_text, write_json

    board = records(spec, points)
    write_json(arena_dir / "leaderboard.json", board)
    atomic_write_text(arena_dir / "leaderboard.csv", to_csv(board))
