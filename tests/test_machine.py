"""The machine's measured facts (cached once), the FLOPs count behind a run's utilisation, and `seqarena doctor`."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from seqarena import machine
from seqarena.cli import app


def test_facts_are_measured_once_and_cached(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEQARENA_CACHE_DIR", str(tmp_path))
    calls = []
    real = machine.measure
    monkeypatch.setattr(machine, "measure", lambda device=None: calls.append(1) or real(device))
    first = machine.facts()
    assert first["gemm_fp32_gflops"] > 1 and first["memory_gb_s"] > 0.1 and "fp32" in first["fast_precisions"]
    assert first["gemm_fp32_gflops"] == max(first["gemm_fp32_torch_mm_gflops"], first["gemm_fp32_onednn_gflops"] or 0)
    assert machine.facts() == first and len(calls) == 1  # the second call reads the cache
    assert len(json.loads((tmp_path / "machine.json").read_text())) == 1
    machine.facts(refresh=True)
    assert len(calls) == 2


def test_step_flops_counts_a_matmul_forward_and_backward() -> None:
    w = torch.randn(32, 16, requires_grad=True)
    x = torch.randn(8, 32)
    flops = machine.step_flops(lambda: (x @ w).sum().backward())
    assert flops == 2 * (2 * 8 * 32 * 16)  # the forward matmul, and one more for the weight gradient (x is constant)


def test_doctor_prints_the_machine_and_the_kernels(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEQARENA_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["devices"][0]["device"] == "cpu" and report["devices"][0]["gemm_fp32_gflops"] > 1
    assert set(report["kernels"]) == {"gru", "lstm_cells", "selective_scan", "causal_conv", "attention"}
    bad = CliRunner().invoke(app, ["doctor", "--threads", "-1"])
    assert bad.exit_code != 0 and "--threads" in bad.output


def test_doctor_table_without_onednn(monkeypatch) -> None:
    """A torch without oneDNN (or a CUDA device) has no oneDNN figure: the table says "-"."""
    facts = {
        "device": "cpu", "name": "test CPU", "threads": 2, "gemm_fp32_gflops": 100.0,
        "gemm_fp32_torch_mm_gflops": 100.0, "gemm_fp32_onednn_gflops": None, "memory_gb_s": 10.0,
        "gemm_speed_vs_fp32": {"bf16": 0.5, "fp16": None}, "fast_precisions": ["fp32"],
    }  # fmt: skip
    monkeypatch.setattr(machine, "facts", lambda device=None, refresh=False: facts)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "100 / -" in result.output
