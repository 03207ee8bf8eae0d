"""The latency loop: median and p95 of repeated calls, and a time budget that keeps a slow model's profile short."""

from __future__ import annotations

import time

import torch

from seqarena.profile import timed


def test_timed_reports_the_median_and_p95_of_its_calls() -> None:
    calls, threads = [], []
    before = torch.get_num_threads()
    fn = lambda: (calls.append(1), threads.append(torch.get_num_threads()))  # noqa: E731
    out = timed(fn, 20, warmup=2, warmup_s=0.0, sample_s=0.0)
    assert len(calls) == 22 and 0 <= out["median_ms"] <= out["p95_ms"]
    assert set(threads) == {1} and out["threads"] == 1 and torch.get_num_threads() == before  # one thread, restored


def test_the_warm_up_lasts_at_least_its_time() -> None:
    calls = []

    def fast() -> None:
        calls.append(1)
        time.sleep(0.01)

    timed(fast, 5, warmup=1, warmup_s=0.1)
    assert len(calls) >= 5 + 8  # about ten warm-up calls of 10 ms before the five timed ones


def test_a_fast_call_is_sampled_for_at_least_its_time() -> None:
    calls = []
    timed(lambda: calls.append(1), 5, warmup=1, warmup_s=0.0, sample_s=0.05)
    assert len(calls) > 1000  # far more than 5 calls: 50 ms of a call that takes microseconds


def test_a_slow_call_is_timed_a_few_times_within_the_budget() -> None:
    calls = []

    def slow() -> None:
        calls.append(1)
        time.sleep(0.05)

    started = time.perf_counter()
    out = timed(slow, 30, warmup=3, budget_s=0.12)
    assert len(calls) <= 6, len(calls)  # warm-up stops after 0.03 s (one call), sampling after 0.12 s
    assert time.perf_counter() - started < 1.0 and out["median_ms"] >= 45
