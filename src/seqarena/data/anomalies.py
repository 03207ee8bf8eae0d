"""Labelled series for anomaly detection: a CSV/Parquet file with value columns and a 0/1 label column, the real
heart-rate series `ucr-bleeding` (UCR anomaly archive no. 135, KDD Cup 2021, shipped inside the aeon package: read
by path and sha256, aeon's code is never imported), or any series with seeded anomalies injected (`inject`), whose
labels are then the injected points.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqarena.data.ucr import aeon_data_dir
from seqarena.errors import DataError

BLEEDING = "ucr-bleeding"
BLEEDING_FILE = "KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv"
BLEEDING_SHA = "fe26577b94896943e8205d04d56bf2511fe05c008df535a1ec3826adff3597e2"
BLEEDING_TRAIN = 1200  # the archive's normal training prefix
KINDS = ("spike", "level shift", "noise burst", "flatline")


@dataclass
class AnomalySet:
    name: str
    values: np.ndarray  # (N, C) float64
    labels: np.ndarray | None  # (N,) bool; None: the file has no label column (predict only)
    columns: list[str]
    train_end: int | None  # the dataset's own normal training prefix, else None
    sha256: str


def load_anomalies(spec: str, columns: list[str] | None, label_column: str, need_labels: bool = True) -> AnomalySet:
    """A labelled series by name or path."""
    if spec == BLEEDING:
        return _bleeding()
    from seqarena.data import registry

    if not registry.is_path(spec) and spec in registry.DATASETS:  # a forecasting dataset (for injection)
        series, info, sha = registry.load(spec, {}, None)
        data = AnomalySet(info.name, series.values, None, series.columns, None, sha)
    else:
        data = read_labelled(Path(spec).expanduser(), label_column)
    if need_labels and data.labels is None:
        raise DataError(f"{data.name} has no label column '{label_column}'; set task.label_column, or task.inject=true "
                        f"to add labelled anomalies")  # fmt: skip
    return _select(data, columns)


def read_labelled(path: Path, label_column: str) -> AnomalySet:
    from seqarena.data.download import sha256_file
    from seqarena.data.timeseries import frame_to_series, read_frame

    frame = read_frame(path)
    labels = None
    if label_column in frame.columns:
        raw = frame.pop(label_column)
        bad = ~raw.isin([0, 1, True, False])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: label column '{label_column}' row {row + 2} is {raw.iloc[row]!r}; labels are 0 or 1"
            )
        labels = raw.to_numpy().astype(bool)
    series = frame_to_series(frame, str(path))
    return AnomalySet(path.stem, series.values, labels, series.columns, None, sha256_file(path))


def _select(data: AnomalySet, columns: list[str] | None) -> AnomalySet:
    if not columns:
        return data
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"{data.name} has no column(s) {missing} (task.columns); columns: {data.columns}")
    take = [data.columns.index(c) for c in columns]
    return AnomalySet(data.name, data.values[:, take], data.labels, list(columns), data.train_end, data.sha256)


def _bleeding() -> AnomalySet:
    import pandas as pd

    folder = aeon_data_dir()
    if folder is None:
        raise DataError(f"task.data={BLEEDING} ships inside aeon: pip install 'seqarena[ucr]'")
    path = folder / BLEEDING_FILE
    if not path.is_file():
        raise DataError(f"the installed aeon lacks {BLEEDING_FILE}; install aeon 1.6: pip install 'seqarena[ucr]'")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != BLEEDING_SHA:
        raise DataError(f"{path} has sha256 {digest}, not the known {BLEEDING_SHA}; reinstall aeon 1.6")
    frame = pd.read_csv(path)
    values = frame[["value"]].to_numpy(dtype=np.float64)  # (N, 1)
    return AnomalySet(BLEEDING, values, frame["is_anomaly"].to_numpy().astype(bool), ["value"], BLEEDING_TRAIN, digest)


def inject(data: AnomalySet, seed: int, every: int = 200) -> tuple[AnomalySet, dict[str, int]]:
    """The series with one seeded anomaly per `every` steps on average, the kinds in turn: a spike of 4-8 standard
    deviations, a level shift, a burst of noise, or a flatline (the value frozen, which the last-value error cannot
    see), each 1 (spike) or 8-40 steps long on 1 channel; labels are the injected steps (any given labels are
    replaced). Returns the counts per kind."""
    rng = np.random.default_rng(seed)
    values, (n, c) = data.values.copy(), data.values.shape
    std = values.std(0) + 1e-12  # (C,)
    labels = np.zeros(n, dtype=bool)
    counts = dict.fromkeys(KINDS, 0)
    for k in range(max(1, n // every)):
        kind = KINDS[k % len(KINDS)]
        length = 1 if kind == "spike" else int(rng.integers(8, 41))
        start, ch = int(rng.integers(1, max(2, n - length))), int(rng.integers(c))
        seg = slice(start, min(n, start + length))
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            values[seg, ch] += sign * rng.uniform(4, 8) * std[ch]
        elif kind == "level shift":
            values[seg, ch] += sign * rng.uniform(1.5, 3) * std[ch]
        elif kind == "noise burst":
            values[seg, ch] += rng.normal(0, 1.5 * std[ch], seg.stop - seg.start)
        else:
            values[seg, ch] = values[start - 1, ch]
        labels[seg] = True
        counts[kind] += 1
    sha = hashlib.sha256(f"{data.sha256}:inject:{seed}:{every}".encode()).hexdigest()
    return AnomalySet(data.name + "-injected", values, labels, data.columns, data.train_end, sha), counts


def listing() -> list[tuple[str, ...]]:
    """(name, task, size, defaults, period, licence, availability, description) for `seqarena datasets`."""
    here = "installed" if aeon_data_dir() is not None else "pip install 'seqarena[ucr]'"
    return [
        (BLEEDING, "anomaly", "7,501 x 1", "window 64", "-", "research use (UCR archive, via aeon)", here,
         "heart rate of a patient with internal bleeding; 1,200 normal training steps, one labelled 12-step anomaly"),
    ]  # fmt: skip
