"""fp32 linear layers through oneDNN while training on the CPU, where it multiplies faster than torch's default
matmul. The CPU wheel's `torch.mm` is MKL, which takes a generic path on AMD CPUs: on an AMD EPYC VM oneDNN's
strict-fp32 GEMM (`torch.ops.mkldnn._linear_pointwise`, in the same wheel) ran 2.2x faster (`seqarena doctor`
measures both). `train.matmul=auto` switches when the measured ratio says so; run.json records the choice. The
weights stay ordinary nn.Linear parameters (checkpoints, export and inference are unchanged); under autocast, for
other dtypes or devices and inside an ONNX export a layer takes F.linear as before."""

from __future__ import annotations

import types

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.kernels.onednn import FASTER, linear, op


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return linear(x, self.weight, self.bias)


def install(model: nn.Module, choice: str = "onednn") -> int:
    """Route every nn.Linear of `model` through oneDNN (per call, where `usable`) when `choice` is "onednn";
    returns how many layers."""
    layers = [m for m in model.modules() if type(m) is nn.Linear] if choice == "onednn" else []
    for layer in layers:
        layer.forward = types.MethodType(_forward, layer)
    return len(layers)


def choose(requested: str, device: torch.device, precision: str, deterministic: bool = False) -> tuple[str, str]:
    """(the matmul a run trains its linear layers with, why): "onednn" or "torch"."""
    if requested == "torch":
        return "torch", "as requested"
    if device.type != "cpu" or precision != "fp32" or op() is None or not torch.backends.mkldnn.is_available():
        if requested == "onednn":
            raise ConfigError("train.matmul=onednn needs fp32 training on the CPU with oneDNN in torch; "
                              "use train.matmul=auto or torch")  # fmt: skip
        return "torch", "auto: oneDNN applies to fp32 on the CPU only"
    if requested == "onednn":
        return "onednn", "as requested"
    if deterministic:
        return "torch", "auto: train.deterministic keeps torch's matmul"
    from seqarena import machine

    facts = machine.facts(device)
    onednn, mm = facts.get("gemm_fp32_onednn_gflops") or 0.0, facts["gemm_fp32_torch_mm_gflops"]
    if onednn >= FASTER * mm:
        return "onednn", f"auto: oneDNN {onednn:.0f} against torch.mm {mm:.0f} GFLOP/s on this machine"
    return "torch", f"auto: torch.mm {mm:.0f} GFLOP/s, oneDNN {onednn:.0f}: not {FASTER}x faster here"
