"""One layer of each family at batch 1, width 256, sequence lengths 256 ... 16384: forward+backward time and
peak memory. Each case runs in a fresh process (its peak resident memory is its own, above the idle level
after imports and model construction); a case that exceeds the memory cap or the time limit is skipped and
says so. The plain-PyTorch reference is naive attention, softmax(QK^T)V, next to the fused SDPA one.
Prints JSON, with each family's scaling exponent (slope of log time against log length).

    .venv/bin/python benchmarks/long_sequences.py [--lengths 256,1024,4096,16384] [--families transformer,s4d]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

FAMILIES = {  # name -> (registered model, its config) for one layer at width 256
    "transformer (full SDPA)": ("transformer", {"causal": True, "num_heads": 4}),
    "local_attention (w=128)": ("local_attention", {"causal": True, "num_heads": 4, "window": 128}),
    "linear_attention": ("linear_attention", {"num_heads": 4}),
    "bigbird (block 64; 2 random)": ("bigbird", {"causal": True, "num_heads": 4, "block": 64}),
    "lsh_attention (bucket 64; 2 hashes)": ("lsh_attention", {"causal": True, "num_heads": 4, "bucket_size": 64}),
    "lstm (fused)": ("lstm", {}),
    "gru (seqarena kernel)": ("gru", {}),
    "gru (nn.GRU)": ("gru", {"kernel": "torch"}),
    "rnn (fused)": ("rnn", {}),
    "peephole_lstm (C++ loop)": ("peephole_lstm", {}),
    "grud (custom cell)": ("grud", {}),
    "tcn": ("tcn", {}),
    "s4d": ("s4d", {}),
    "mamba (C++ scan)": ("mamba", {}),
    "mamba (sequential scan)": ("mamba", {"scan": "sequential"}),
    "mamba (chunked scan)": ("mamba", {"scan": "chunked"}),
}
REFERENCE = "naive attention (reference)"


def case(family: str, length: int, width: int, reps: int) -> dict:
    """Runs inside the child process."""
    import torch

    from seqarena.profile import peak_rss_mb
    from seqarena.registry import get_model

    torch.manual_seed(0)
    if family == REFERENCE:
        qkv = torch.nn.Linear(width, 3 * width)

        def layer(x: torch.Tensor) -> torch.Tensor:
            q, k, v = qkv(x).chunk(3, dim=-1)  # (1, T, D) each; one head, causal, no fused kernel
            scores = (q @ k.transpose(1, 2)) / math.sqrt(width)
            mask = torch.ones(length, length, dtype=torch.bool).tril()
            return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
    else:
        name, extra = FAMILIES[family]
        cls = get_model(name)
        model = cls(cls.Config(d_model=width, num_layers=1, **extra))
        layer = lambda x: model(x)[0]  # noqa: E731
    x = torch.randn(1, length, width, requires_grad=True)
    idle = peak_rss_mb()  # before the first call, so the peak of every call counts
    layer(x).sum().backward()  # warm-up: one-time initialisation is not part of the time
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        layer(x).sum().backward()
        times.append(time.perf_counter() - started)
    return {
        "fwd_bwd_ms": sorted(times)[len(times) // 2] * 1e3,
        "peak_mb_above_idle": peak_rss_mb() - idle,
        "threads": torch.get_num_threads(),
    }


def run_child(family: str, length: int, width: int, reps: int, mem_gb: float, timeout: int) -> dict:
    cap = int(mem_gb * 2**30)
    code = (
        f"import json, resource, sys; sys.path.insert(0, {sys.path[0]!r}); "
        f"resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})); from long_sequences import case; "
        f"print(json.dumps(case({family!r}, {length}, {width}, {reps})))"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over the {timeout} s limit"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["killed"])[-1]
        if "memory" in last.lower() or "alloc" in last.lower() or done.returncode < 0:
            return {"skipped": f"exceeded the {mem_gb:g} GB memory cap"}
        return {"skipped": f"failed: {last[:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    (t0, y0), (t1, y1) = points[-2], points[-1]
    return round(math.log(y1 / y0) / math.log(t1 / t0), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="256,1024,4096,16384")
    parser.add_argument("--families", default=",".join([*FAMILIES, REFERENCE]))
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)  # timed repeats after one warm-up; the median is reported
    parser.add_argument("--mem-gb", type=float, default=12.0)
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    results = {}
    for family in args.families.split(","):
        rows = {}
        for length in lengths:
            rows[str(length)] = run_child(family, length, args.width, args.reps, args.mem_gb, args.timeout)
            print(json.dumps({"family": family, "length": length, **rows[str(length)]}), file=sys.stderr, flush=True)
        timed = [(int(t), r["fwd_bwd_ms"]) for t, r in rows.items() if "fwd_bwd_ms" in r]
        results[family] = {"by_length": rows, "time_exponent_last_two_lengths": slope(timed)}
    limit = resource.getrlimit(resource.RLIMIT_AS)
    print(
        json.dumps(
            {
                "benchmark": "long_sequences",
                "batch": 1,
                "width": args.width,
                "layers": 1,
                "reps": args.reps,
                "mem_cap_gb": args.mem_gb,
                "rlimit_parent": limit,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
