"""Model FLOPs utilisation of a finished training run: the FLOPs of one training step (counted on a real batch),
per sample, times the samples per second the loop achieved, against the machine's measured fp32 GEMM peak
(seqarena/machine.py). The step's FLOPs count matmuls, convolutions and attention, forward and backward; attention
as torch counts it on CUDA, the full T x T products also when causal (the PaLM and nanoGPT convention)."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from seqarena import machine


def utilisation(task: Any, model: torch.nn.Module, history: list[dict[str, Any]], device: torch.device) -> dict:
    """{"flops_per_sample", "achieved_gflops", "peak_gflops", "mfu"} of the run; {} without a trained epoch."""
    speeds = [r["samples_per_s"] for r in history if r.get("samples_per_s")]
    if not speeds:
        return {}
    batch = next(iter(task.train_batches(64, torch.Generator().manual_seed(0))))
    batch = tuple(b.to(device) if isinstance(b, torch.Tensor) else b for b in batch)
    was_training = model.training
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # a counting step must change nothing
    rng = torch.get_rng_state()
    model.train()

    def step() -> None:
        task.loss(model, batch).backward()

    try:
        flops = machine.step_flops(step)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        torch.set_rng_state(rng)
    per_sample = flops / max(len(batch[0]), 1)
    achieved = per_sample * statistics.median(speeds) / 1e9
    peak = machine.facts(device)["gemm_fp32_gflops"]
    return {
        "flops_per_sample": int(per_sample),
        "achieved_gflops": round(achieved, 2),
        "peak_gflops": peak,  # fp32 GEMM at this run's thread count, measured once per machine
        "mfu": round(achieved / peak, 4) if peak else None,
    }
