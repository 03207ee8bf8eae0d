"""Run an arena: validate everything, skip runs already in the store, execute the rest, report."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from seqarena.arena import spec as arena_spec
from seqarena.arena.executors import executor
from seqarena.arena.stats import PRIMARY, leaderboard
from seqarena.arena.store import Store
from seqarena.errors import SeqarenaError

DEFAULT_ARENA = {
    "task": {"name": "forecast", "data": "co2"},
    "models": [{"name": "rnn"}, {"name": "lstm"}, {"name": "gru"}, {"name": "transformer"}],
    "budget": {"params": "20k", "epochs": 6},
    "seeds": 2,
    "sweep": {"task.data": ["co2", "synthetic"]},
}


def store_url(arena_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{(arena_dir / 'results.db').resolve()}"


def _validate(plans: list[arena_spec.RunPlan]) -> None:
    """Build each distinct task once and every entrant's model, so bad data or options fail before any run."""
    from seqarena.config import build
    from seqarena.registry import get_task

    tasks: dict[str, Any] = {}
    for plan in plans:
        cfg = build(json.loads(json.dumps(plan.raw)))
        task_key = json.dumps(plan.raw["task"], sort_keys=True, default=str)
        try:
            if task_key not in tasks:
                tasks[task_key] = get_task(cfg.task.name)(cfg)
            tasks[task_key].check_model(cfg.model)
        except SeqarenaError as exc:
            raise SeqarenaError(f"{plan.label}: {exc}") from None


def compare(
    spec: arena_spec.ArenaSpec,
    out: Path,
    *,
    executor_name: str = "local",
    address: str | None = None,
    url: str | None = None,
    retry_failed: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    plans = arena_spec.expand(spec)
    _validate(plans)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arena.yaml").write_text(yaml.safe_dump(asdict(spec), sort_keys=False), encoding="utf-8")
    store = Store(store_url(out, url))
    statuses = store.statuses()
    unique: dict[str, arena_spec.RunPlan] = {}
    for plan in plans:
        unique.setdefault(plan.key, plan)
    todo = [p for k, p in unique.items() if statuses.get(k) != "ok" and (retry_failed or statuses.get(k) is None)]
    skipped = len(unique) - len(todo)
    failed_kept = sum(1 for k in unique if statuses.get(k) == "failed") if not retry_failed else 0
    log(
        f"arena {out}: {len(unique)} runs, {skipped} already in the store, {len(todo)} to run"
        + (f" ({failed_kept} failed kept; --retry-failed runs them again)" if failed_kept else "")
    )
    run = executor(executor_name, address, spec.workers)
    started = time.perf_counter()
    with _Progress(len(todo)) as advance:
        for i, row in enumerate(run([asdict(p) for p in todo], str(out)), start=1):
            store.put(row)
            advance()
            log(_run_line(i, len(todo), row, time.perf_counter() - started))
    from seqarena.report.render import write_report

    return write_report(out, url)


def _run_line(i: int, n: int, row: dict[str, Any], elapsed: float) -> str:
    head = f"[{i}/{n}] {row['label']} seed {row['seed']}"
    if row["status"] != "ok":
        return f"{head}: FAILED {row['error'].splitlines()[0]}  ({elapsed:.0f}s elapsed)"
    test = row["result"]["metrics"]["test"]
    if "bleu" in test:
        return f"{head}: test BLEU {test['bleu']:.2f} chrF {test['chrf']:.2f}  ({elapsed:.0f}s elapsed)"
    if "ppl" in test:
        return f"{head}: test ppl {test['ppl']:.3f} bpc {test['bpc']:.4f}  ({elapsed:.0f}s elapsed)"
    if "accuracy" in test:
        return f"{head}: test accuracy {test['accuracy']:.4f} macro-F1 {test['macro_f1']:.4f}  ({elapsed:.0f}s elapsed)"
    return f"{head}: test mse {test['mse']:.4f} mae {test['mae']:.4f}  ({elapsed:.0f}s elapsed)"


class _Progress:
    """A rich bar on a terminal; nothing otherwise (each finished run is logged as a line either way)."""

    def __init__(self, total: int) -> None:
        self.total, self.bar = total, None

    def __enter__(self) -> Callable[[], None]:
        if sys.stderr.isatty() and self.total:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            task = self.bar.add_task("arena", total=self.total)
            return lambda: self.bar.advance(task)
        return lambda: None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def collect(arena_dir: Path, url: str | None = None) -> tuple[arena_spec.ArenaSpec, list[dict[str, Any]]]:
    """The arena's spec and, per sweep point, its leaderboard lines."""
    if not (arena_dir / "arena.yaml").is_file():
        raise SeqarenaError(f"{arena_dir} is not an arena directory (no arena.yaml); run `seqarena compare` first")
    spec = arena_spec.parse(yaml.safe_load((arena_dir / "arena.yaml").read_text()) or {})
    rows = Store(store_url(arena_dir, url)).rows()
    points: dict[str, dict[str, Any]] = {}
    for plan in arena_spec.expand(spec):
        if plan.key in rows:
            name = json.dumps(plan.point, default=str)
            point = points.setdefault(name, {"point": plan.point, "entries": []})
            point["entries"].append({"label": plan.label, "seed": plan.seed, "row": rows[plan.key]})
    metric = PRIMARY.get(spec.task.get("name", "forecast"), "test_mse")
    for point in points.values():
        point["board"] = leaderboard(point["entries"], metric)
    return spec, list(points.values())
