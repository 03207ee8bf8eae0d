"""`seqarena doctor`: what this machine can do for seqarena, measured (GEMM peak, memory bandwidth, which
precisions are fast) and checked (the C++ kernels, CUDA), so a user can read run.json's utilisation figure and
tell an implementation limit from a machine limit."""

from __future__ import annotations

import json

import typer

from seqarena.cli.app import app


@app.command()
def doctor(
    refresh: bool = typer.Option(False, "--refresh", help="measure again instead of reading the cache"),
    threads: int = typer.Option(0, "--threads", help="torch threads to measure with (0: torch's default)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Measure this machine once (cached): fp32 GEMM GFLOP/s, memory GB/s, bf16/fp16 speed, the C++ kernels."""
    import torch

    from seqarena import machine
    from seqarena.models.kernels import native

    if threads < 0:
        raise typer.BadParameter("--threads must be >= 0")
    if threads:
        torch.set_num_threads(threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    report = {
        "devices": [machine.facts(d, refresh=refresh) for d in devices],
        "kernels": {k: native.status(k) for k in native.KERNELS},
        "cuda": torch.cuda.is_available(),
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "device",
        "threads",
        "fp32 GEMM GFLOP/s",
        "torch.mm / oneDNN",
        "memory GB/s",
        "bf16 / fp32",
        "fp16 / fp32",
        "fast",
    )
    for d in report["devices"]:
        rel, onednn = d["gemm_speed_vs_fp32"], d["gemm_fp32_onednn_gflops"]
        table.add_row(
            f"{d['device']} ({d['name']})", str(d["threads"]), f"{d['gemm_fp32_gflops']:.1f}",
            f"{d['gemm_fp32_torch_mm_gflops']:.0f} / " + (f"{onednn:.0f}" if onednn else "-"),
            f"{d['memory_gb_s']:.1f}", str(rel["bf16"]), str(rel["fp16"]), ", ".join(d["fast_precisions"]),
        )  # fmt: skip
    console = Console(width=140)
    console.print(table)
    for name, status in report["kernels"].items():
        console.print(f"C++ {name} kernel: {status}")
    if not report["cuda"]:
        console.print("CUDA: not available (training runs on the CPU)")
