"""Labelled sequences from a user's CSV or Parquet table.

- wide (default): one row per sequence, the label in `task.label`, every other column one time step; a shorter
  sequence leaves its trailing cells empty.
- long (`task.id_column` set): one row per time step, rows of a sequence share an id and a label, every other
  numeric column is one channel; rows keep their file order within a sequence.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from seqarena.errors import DataError


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path} does not exist; give a CSV or Parquet file, a registered dataset or a UCR name")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV or Parquet file (or a folder of <class>.txt files)")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give a table with a header line and one sequence per row")
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise DataError("reading Parquet needs pyarrow: pip install pyarrow (or seqarena[parquet])") from None
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise DataError(f"{path} is not a readable Parquet file ({type(exc).__name__})") from None
    try:
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = found.groups()
            raise DataError(
                f"{path}: line {line} has {saw} fields where the header has {want} (ragged rows); give every row the "
                f"header's columns, leaving the cells after a short sequence empty"
            ) from None
        raise DataError(f"{path} is not a readable CSV; check its delimiter and quoting") from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        raise DataError(f"{path} is not a readable CSV; check its delimiter and encoding") from None


def table_sequences(
    frame: pd.DataFrame, source: str, label: str | None, id_column: str | None, need_label: bool = True
) -> tuple[list[np.ndarray], list[str], list[str], list[str]]:
    """(sequences (T_i, C), labels (empty strings when unlabelled), channel names, sequence ids)."""
    if frame.empty:
        raise DataError(f"{source} has no data rows; give one sequence per row (or per id with task.id_column)")
    label = label or "label"
    has_label = label in frame.columns
    if need_label and not has_label:
        raise DataError(
            f"{source} has no label column '{label}' (task.label); columns: {', '.join(map(str, frame.columns[:12]))}"
        )
    if id_column is not None and id_column not in frame.columns:
        raise DataError(f"{source} has no id column '{id_column}' (task.id_column); columns: {list(frame.columns)}")
    features = [c for c in frame.columns if c not in (label, id_column)]
    bad = [str(c) for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(
            f"{source}: column '{bad[0]}' is not numeric; sequences must be numbers (drop the column or encode it)"
        )
    if not features:
        raise DataError(f"{source} has no value columns besides the label")
    labels = frame[label].astype(str).tolist() if has_label else [""] * len(frame)
    if id_column is None:
        return _wide(frame[features].to_numpy(np.float32), labels, source)
    return _long(frame, features, labels, id_column, source)


def _wide(values: np.ndarray, labels: list[str], source: str) -> tuple[list, list, list, list]:
    seqs = []
    for row, v in enumerate(values):
        valid = np.flatnonzero(~np.isnan(v))
        if not len(valid):
            raise DataError(f"{source}: row {row + 2} has no values")
        end = valid[-1] + 1  # trailing empty cells: a shorter sequence
        if np.isnan(v[:end]).any():
            raise DataError(f"{source}: row {row + 2} has an empty cell inside the sequence; fill it or remove the row")
        seqs.append(v[:end, None])  # (T, 1)
    return seqs, labels, ["value"], [str(i) for i in range(len(seqs))]


def _long(frame: pd.DataFrame, features: list, labels: list[str], id_column: str, source: str):
    seqs, out_labels, ids = [], [], []
    frame = frame.assign(_label=labels)
    for key, group in frame.groupby(id_column, sort=False):
        values = group[features].to_numpy(np.float32)  # (T, C)
        if np.isnan(values).any():
            raise DataError(f"{source}: sequence {id_column}={key} has empty cells; fill them or remove its rows")
        distinct = group["_label"].unique()
        if len(distinct) > 1:
            raise DataError(f"{source}: sequence {id_column}={key} has more than one label ({', '.join(distinct[:3])})")
        seqs.append(values)
        out_labels.append(distinct[0])
        ids.append(str(key))
    return seqs, out_labels, [str(c) for c in features], ids
