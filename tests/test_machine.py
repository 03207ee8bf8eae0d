"""The machine's measured facts (cached once), the FLOPs count behind a run's utilisation, and `seqarena doctor`."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tests.test_attention import sdpa
from typer.testing import CliRunner

from seqarena import machine
from seqarena.cli import app
from seqarena.models.kernels import native
from seqarena.models.kernels.attention import attention


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


def test_step_flops_counts_attention_on_the_cpu_the_same_through_sdpa_and_the_cpp_kernel() -> None:
    qkv = torch.randn(2, 40, 3 * 16, requires_grad=True)
    full = 2 * (2 * 2 * 2 * 40 * 40 * 8)  # the forward: two (T x T) products of 2 sequences x 2 heads of 8
    expected = full + 2.5 * full  # and the backward's five products (the scores recomputed), as torch counts them
    assert machine.step_flops(lambda: sdpa(qkv, 2, True).sum().backward()) == expected
    if native.load("attention") is not None:
        assert machine.step_flops(lambda: attention(qkv, 2, True).sum().backward()) == expected


def test_doctor_prints_the_machine_and_the_kernels(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEQARENA_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["devices"][0]["device"] == "cpu" and report["devices"][0]["gemm_fp32_gflops"] > 1
    assert set(report["kernels"]) == {p.stem for p in Path(native.__file__).parent.glob("*.cpp")}
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
