"""Where arena runs execute. Local: a process pool, one fresh process per run (so each run's peak memory is its
own), workers x threads never above the cores. Ray: the same function as a Ray task on a cluster or a local
Ray instance; rows come back identical because each run is seeded and single-threaded the same way."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from seqarena.arena.worker import execute
from seqarena.errors import SeqarenaError
from seqarena.training.distributed import cores

Claim = Callable[[dict[str, Any]], bool]


def run_local(
    plans: list[dict[str, Any]], arena_dir: str, workers: int | None, claim: Claim | None = None
) -> Iterator[dict[str, Any]]:
    """At most `workers` runs at a time; each plan is claimed (`claim`) as it starts, so processes sharing a store
    split the runs between them (a plan another process holds is passed over)."""
    workers = max(1, min(workers or cores(), len(plans) or 1))
    threads = max(1, cores() // workers)
    ctx = mp.get_context("spawn")
    queue = iter(plans)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        pending: set[Any] = set()
        while True:
            while len(pending) < workers:
                plan = next(queue, None)
                if plan is None:
                    break
                if claim is None or claim(plan):
                    pending.add(pool.submit(execute, plan, arena_dir, threads))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


def run_ray(
    plans: list[dict[str, Any]], arena_dir: str, address: str | None, claim: Claim | None = None
) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise SeqarenaError("--executor ray needs Ray: pip install 'seqarena[ray]' (or pip install ray)") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0, max_calls=1)(execute)  # a fresh worker per run, as locally
        pending = [remote.remote(plan, arena_dir, 1) for plan in plans if claim is None or claim(plan)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def executor(name: str, address: str | None, workers: int | None) -> Callable[..., Iterator[dict[str, Any]]]:
    if name == "local":
        return lambda plans, arena_dir, claim=None: run_local(plans, arena_dir, workers, claim)
    if name == "ray":
        return lambda plans, arena_dir, claim=None: run_ray(plans, arena_dir, address, claim)
    raise SeqarenaError(f"unknown executor '{name}' (executors: local, ray)")
