"""Optional dependencies: each feature's libraries live in an extra of the package (pyproject.toml), imported
only when the feature runs, with one line saying what to install when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from seqarena.errors import SeqarenaError

EXTRAS = {
    "deploy": "export, quantize, stream and serve (ONNX, ONNX Runtime, FastAPI)",
    "ode": "ODE-RNN (torchdiffeq)",
    "label": "span F1 for sequence labelling (seqeval) and the hironsan corpus",
    "ucr": "the UCR/UEA classification archives (aeon)",
    "parquet": "Parquet tables (pyarrow)",
    "ray": "the Ray executor",
    "stats": "the statistical forecasting baselines (statsforecast)",
    "track": "TensorBoard and MLflow loggers",
    "tune": "hyper-parameter search (Optuna)",
    "postgres": "a PostgreSQL store (psycopg)",
}


def need(module: str, extra: str, what: str | None = None) -> ModuleType:
    """Import `module`, or raise a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        purpose = what or EXTRAS.get(extra, extra)
        raise SeqarenaError(
            f"{purpose} needs {module.split('.')[0]}, which is not installed: pip install 'seqarena[{extra}]'"
        ) from None
