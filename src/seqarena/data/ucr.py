"""UCR/UEA classification archives in the `.ts` format: the sets shipped inside the aeon package (GunPoint,
ItalyPowerDemand, BasicMotions, JapaneseVowels, ...) or any <Name>_TRAIN.ts / <Name>_TEST.ts pair under
SEQARENA_DATA_DIR/ucr/<Name>/. aeon is used only as the carrier of the files: its Python code is never imported.

Format: `#` comments, `@key value` headers, then `@data` with one case per line; dimensions are separated by `:`,
values by `,` (`?` is missing), and the class label is the last field.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from seqarena.errors import DataError

UNSUPPORTED = ("timestamps",)


def aeon_data_dir() -> Path | None:
    """aeon's bundled dataset folder, found without importing aeon (its import pulls in numba)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


def roots() -> list[Path]:
    from seqarena.data.registry import cache_dir, data_dir

    found = [d / "ucr" for d in (data_dir(), cache_dir()) if d is not None]
    aeon = aeon_data_dir()
    return [r for r in [*found, *([aeon] if aeon else [])] if r.is_dir()]


def ucr_names() -> list[str]:
    """Every archive with both a _TRAIN.ts and a _TEST.ts file."""
    names = set()
    for root in roots():
        for folder in root.iterdir():
            train = folder / f"{folder.name}_TRAIN.ts"
            if train.is_file() and (folder / f"{folder.name}_TEST.ts").is_file() and not _regression(train):
                names.add(folder.name)
    return sorted(names)


def _regression(path: Path) -> bool:
    """An archive of continuous targets (@targetLabel true), not classes."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.lower().startswith("@data"):
                return False
            if line.lower().startswith("@targetlabel") and "true" in line.lower():
                return True
    return False


def find(name: str) -> tuple[Path, Path] | None:
    """(train, test) .ts paths of an archive, matched case-insensitively, or None."""
    for root in roots():
        for folder in root.iterdir():
            if folder.name.lower() == name.lower():
                train, test = folder / f"{folder.name}_TRAIN.ts", folder / f"{folder.name}_TEST.ts"
                if train.is_file() and test.is_file():
                    return train, test
    return None


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str], dict[str, str]]:
    """Cases as (T, C) float32 arrays (NaN where missing), their labels, and the header."""
    header: dict[str, str] = {}
    seqs: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8", errors="strict") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith(("#", "%")):  # comments (ARFF-style "%" in some archives)
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise DataError(f"{path}, line {number}: expected an @header or @data, got {line[:40]!r}")
                key, _, value = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                elif key in UNSUPPORTED and value.strip().lower() == "true":
                    raise DataError(f"{path}: .ts files with @timeStamps true are not supported")
                elif key == "targetlabel" and value.strip().lower().startswith("true"):
                    raise DataError(
                        f"{path.name} is a regression problem (continuous targets, @targetLabel): seqarena classifies; "
                        f"choose a classification archive (see `seqarena datasets`)"
                    )
                else:
                    header[key] = value.strip()
                continue
            seq, label = _parse_case(line, path, number, header.get("classlabel", "true").startswith("true"))
            seqs.append(seq)
            labels.append(label)
    if not in_data:
        raise DataError(f"{path} has no @data section; is it a .ts file?")
    if not seqs:
        raise DataError(f"{path} holds no cases after @data")
    channels = {s.shape[1] for s in seqs}
    if len(channels) > 1:
        raise DataError(f"{path}: cases have different numbers of dimensions {sorted(channels)}")
    return seqs, labels, header


def _parse_case(line: str, path: Path, number: int, labelled: bool) -> tuple[np.ndarray, str]:
    fields = line.split(":")
    label = ""
    if labelled:
        if len(fields) < 2:
            raise DataError(f"{path}, line {number}: a case needs values and a class label separated by ':'")
        label = fields.pop().strip()
    dims = []
    for dim in fields:
        try:
            dims.append(np.array([np.nan if v.strip() == "?" else float(v) for v in dim.split(",")], np.float32))
        except ValueError:
            raise DataError(f"{path}, line {number}: a value is not a number") from None
    lengths = {len(d) for d in dims}
    if len(lengths) > 1:
        raise DataError(f"{path}, line {number}: the dimensions of one case have different lengths {sorted(lengths)}")
    return np.stack(dims, axis=1), label  # (T, C)
