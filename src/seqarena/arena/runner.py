"""Run an arena: resolve every plan once (bad data or options fail before any run), skip runs already in the
store, execute the rest, store each row. Writing the report is the caller's next step (seqarena/comparison.py)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from seqarena import logs
from seqarena.arena import spec as arena_spec
from seqarena.arena import tuning
from seqarena.arena.executors import executor
from seqarena.arena.results import store_url
from seqarena.arena.store import Store, owner
from seqarena.errors import SeqarenaError
from seqarena.files import atomic_write_text, check_output_dir

DEFAULT_ARENA = {
    "task": {"data": "co2"},
    "models": [{"name": "rnn"}, {"name": "lstm"}, {"name": "gru"}, {"name": "transformer"}],
    "budget": {"params": "20k", "epochs": 6},
    "seeds": 2,
    "sweep": {"task.data": ["co2", "synthetic"]},
}


def resolve_plans(plans: list[arena_spec.RunPlan]) -> None:
    """Load each distinct task once and resolve every plan against it (dataset defaults, the width for the
    parameter budget), so the workers train the resolved configs without resolving again."""
    from seqarena.config import build, to_dict
    from seqarena.registry import get_model, get_task, plugin_modules

    tasks: dict[str, Any] = {}
    for plan in plans:
        cfg = build(json.loads(json.dumps(plan.raw)))
        task_key = json.dumps(plan.raw["task"], sort_keys=True, default=str)
        try:
            if task_key not in tasks:
                tasks[task_key] = get_task(cfg.task.name)(cfg)
                resolved = tasks[task_key].cfg
            else:
                resolved = tasks[task_key].resolve(cfg)
        except SeqarenaError as exc:
            raise SeqarenaError(f"{plan.label}: {exc}") from None
        plan.resolved = to_dict(resolved)
        plan.plugins = plugin_modules(get_task(resolved.task.name), get_model(resolved.model.name))


def run_arena(
    spec: arena_spec.ArenaSpec,
    out: Path,
    *,
    executor_name: str = "local",
    address: str | None = None,
    url: str | None = None,
    retry_failed: bool = False,
    log: Callable[[str], None] = logs.info,
) -> Path:
    """Train every plan of the arena that the store lacks; return the arena directory."""
    check_output_dir(out, "--out", may_exist="arena.yaml")  # a new arena, or more runs for this one
    plans = arena_spec.expand(spec)
    if spec.budget.get("tune"):  # every entrant's study first; its runs then train on what it chose
        resolve_plans(plans)  # bad data or options fail before any trial
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "arena.yaml", yaml.safe_dump(asdict(spec), sort_keys=False))
        tuning.apply(plans, tuning.tune_entrants(spec, plans, out, log))
    store = Store(store_url(out, url)) if url or (out / "results.db").is_file() else None  # nothing new on disk yet
    statuses = store.statuses() if store is not None else {}
    unique: dict[str, arena_spec.RunPlan] = {}
    for plan in plans:
        unique.setdefault(plan.key, plan)
    todo = [p for k, p in unique.items() if statuses.get(k) != "ok" and (retry_failed or statuses.get(k) is None)]
    resolve_plans(todo)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "arena.yaml", yaml.safe_dump(asdict(spec), sort_keys=False))
    store = store or Store(store_url(out, url))
    skipped = len(unique) - len(todo)
    failed_kept = sum(1 for k in unique if statuses.get(k) == "failed") if not retry_failed else 0
    log(
        f"arena {out}: {len(unique)} runs, {skipped} already in the store, {len(todo)} to run"
        + (f" ({failed_kept} failed kept; --retry-failed runs them again)" if failed_kept else "")
    )
    run = executor(executor_name, address, spec.workers)
    headline = [c for c in arena_spec.task_class(spec).columns if c.key.startswith("test_")][:2]
    started, who, i = time.perf_counter(), owner(), 0
    with _Progress(len(todo)) as advance:
        while todo:
            for row in run([asdict(p) for p in todo], str(out), lambda p: store.claim(p["key"], who)):
                store.put(row)
                store.release(row["key"], who)
                i += 1
                advance()
                log(_run_line(i, len(todo), row, headline, time.perf_counter() - started))
            todo = _wait_for_others(store, todo, who, log)
    return out


def _wait_for_others(store: Store, todo: list[arena_spec.RunPlan], who: str, log: Callable[[str], None]) -> list:
    """Runs of this arena that other processes sharing the store are training: wait until they land; return
    those that never did (their process died), to run here."""
    keys = [p.key for p in todo]
    told = False
    while held := store.claimed_elsewhere(keys, who):
        if not told:
            log(f"waiting for {len(held)} run(s) that other processes sharing the store are training")
            told = True
        time.sleep(2)
    statuses = store.statuses()
    return [p for p in todo if p.key not in statuses]


def _run_line(i: int, n: int, row: dict[str, Any], columns: list[Any], elapsed: float) -> str:
    """One finished run: its first two test columns (the task's leaderboard headers)."""
    head = f"[{i}/{n}] {row['label']} seed {row['seed']}"
    if row["status"] != "ok":
        return f"{head}: FAILED {row['error'].splitlines()[0]}  ({elapsed:.0f}s elapsed)"
    test = row["result"]["metrics"]["test"]
    values = [(c, test.get(c.key.removeprefix("test_"))) for c in columns]
    shown = " ".join(f"{c.header} {v:.{c.digits}f}" for c, v in values if isinstance(v, (int, float)))
    return f"{head}: {shown}  ({elapsed:.0f}s elapsed)"


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
