"""Shipping a trained run: ONNX export with state (export.py), int8 (quantize.py), streaming inference
(stream.py) and an HTTP server speaking the Open Inference Protocol (serve.py). Needs `seqarena[deploy]`."""

from __future__ import annotations

import platform
from types import ModuleType
from typing import Any

from seqarena import extras

__all__ = ["onnx_modules", "need", "versions"]


def need(*modules: str) -> list[ModuleType]:
    """Import optional deployment dependencies, or fail with how to install them."""
    return [extras.need(name, "deploy") for name in modules]


def onnx_modules() -> tuple[ModuleType, ModuleType]:
    """(onnx, onnxruntime); onnxscript is what the dynamo exporter needs."""
    onnx, ort, _ = need("onnx", "onnxruntime", "onnxscript")
    return onnx, ort


def versions() -> dict[str, Any]:
    import torch

    from seqarena.version import __version__

    onnx, ort = onnx_modules()
    return {
        "seqarena": __version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "processor": platform.machine(),
    }
