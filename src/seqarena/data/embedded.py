"""Real series that ship inside the package (data/embedded_data/, each with a SOURCE.md), so the default job
needs no download."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pandas as pd

from seqarena.data.timeseries import Series
from seqarena.errors import DataError

# name -> (file, sha256 of its bytes, pandas frequency of its weekly/daily/... index)
EMBEDDED = {"co2": ("co2.csv", "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f", "W-SAT")}


def load_embedded(name: str) -> tuple[Series, str]:
    """The series and its checksum tag ("embedded:<sha256>")."""
    if name not in EMBEDDED:
        raise DataError(f"no embedded dataset named '{name}' (embedded: {', '.join(EMBEDDED)})")
    file, sha256, freq = EMBEDDED[name]
    payload = resources.files("seqarena.data.embedded_data").joinpath(file).read_bytes()
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise DataError(f"the embedded {name} series is damaged (checksum mismatch); reinstall seqarena")
    frame = pd.read_csv(resources.files("seqarena.data.embedded_data").joinpath(file))
    index = pd.date_range(start=str(frame["date"].iloc[0]), periods=len(frame), freq=freq)  # regular weeks
    values = frame.drop(columns="date").to_numpy(dtype=np.float64)  # (T, C), NaN where a week has no value
    series = Series(values, list(frame.columns[1:]), index, f"embedded:{name}")
    return series, f"embedded:{sha256}"
