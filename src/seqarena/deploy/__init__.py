"""Shipping a trained run: ONNX export with state (export.py), int8 (quantize.py), streaming inference
(stream.py) and an HTTP server speaking the Open Inference Protocol (serve.py). Needs `seqarena[deploy]`."""

from __future__ import annotations

import importlib
import platform
from types import ModuleType
from typing import Any

from seqarena.errors import SeqarenaError

__all__ = ["onnx_modules", "need", "versions"]


def need(*modules: str) -> list[ModuleType]:
    """Import optional deployment dependencies, or fail with how to install them."""
    out = []
    for name in modules:
        try:
            out.append(importlib.import_module(name))
        except ImportError:
            raise SeqarenaError(
                f"this needs the deployment extras ({name} is missing): pip install 'seqarena[deploy]'"
            ) from None
    return out


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
