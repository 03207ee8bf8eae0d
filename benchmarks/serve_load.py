"""Load on `seqarena serve` over loopback: a bounded number of concurrent clients send batch-1 infer requests for a
bounded time, against a server with dynamic batching and one without, one after the other. Prints JSON:
throughput (requests/s) and p50/p99 latency per setting, and the ratio.

    .venv/bin/python benchmarks/serve_load.py [--run RUN] [--clients 16] [--seconds 20] [--wait-ms 2]

Without --run it trains the default run (an LSTM on the embedded co2 series) and exports it, in a temp folder.
Clients and server share this machine's cores, so the figures are for loopback on this machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run: Path, wait_ms: float, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "seqarena", "serve", f"m={run}", "--port", str(port),
           "--batch-wait-ms", str(wait_ms), "--threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start: {proc.stderr.read()}")


def drive(url: str, clients: int, seconds: float) -> dict:
    meta = httpx.get(f"{url}/v2/models/m").json()
    shape = [1, *meta["inputs"][0]["shape"][1:]]
    size = 1
    for s in shape:
        size *= s
    body = {"inputs": [{"name": meta["inputs"][0]["name"], "shape": shape, "datatype": "FP32", "data": [330.0] * size}]}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                ok = http.post(f"{url}/v2/models/m/infer", json=body).status_code == 200
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - t)
                    else:
                        errors[0] += 1

    workers = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1e3, 2),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1e3, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--wait-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = Path(tmp) / "co2"
            subprocess.run([sys.executable, "-m", "seqarena", "train", "--out", str(run), "--set",
                            "train.progress=false"], check=True, capture_output=True)  # fmt: skip
            subprocess.run([sys.executable, "-m", "seqarena", "export", str(run)], check=True, capture_output=True)
        out = {"benchmark": "serve_load", "clients": args.clients, "seconds": args.seconds, "threads": args.threads,
               "cores": os.cpu_count(), "run": str(args.run or "default co2 LSTM, exported")}  # fmt: skip
        for label, wait in (("batching", args.wait_ms), ("no_batching", 0.0)):
            proc, url = start(run, wait, args.threads)
            try:
                drive(url, 2, 2.0)  # warm-up
                out[label] = {"batch_wait_ms": wait, **drive(url, args.clients, args.seconds)}
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            print(json.dumps({label: out[label]}), flush=True)
        out["throughput_ratio"] = round(out["batching"]["throughput_rps"] / out["no_batching"]["throughput_rps"], 2)
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
