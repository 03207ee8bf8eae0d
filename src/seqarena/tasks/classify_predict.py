"""`seqarena predict` for classification runs: new sequences in, one row per sequence out (id, label, the
probability of each class)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seqarena.data.labelled import MAX_ABS32, encode_chars
from seqarena.data.tables import read_table, table_sequences
from seqarena.data.ucr import read_ts
from seqarena.errors import DataError
from seqarena.tasks.classify_augment import with_derivative
from seqarena.tasks.classify_model import collate

BATCH = 256


def read_inputs(path: Path, art: dict[str, Any]) -> tuple[list[np.ndarray], list[str]]:
    """Sequences and their ids from a table (labels optional), a .ts file, or a text file (character runs)."""
    if not path.is_file():
        raise DataError(f"{path} does not exist; give the sequences to classify")
    if art["vocab"] is not None:
        if path.suffix.lower() not in (".txt", ""):
            raise DataError(f"{path}: this run classifies text; give a .txt file with one sequence per line")
        try:
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not valid utf-8 (offset {exc.start})") from None
        if not lines:
            raise DataError(f"{path} holds no sequences (one per line)")
        return encode_chars(lines, art["vocab"]), lines
    if path.suffix.lower() == ".ts":
        seqs, _, _ = read_ts(path)
        return seqs, [str(i) for i in range(len(seqs))]
    frame = read_table(path)
    seqs, _, _, ids = table_sequences(frame, str(path), art["label"], art["id_column"], need_label=False)
    return seqs, ids


@torch.inference_mode()
def predict_file(model: torch.nn.Module, art: dict[str, Any], path: Path) -> pd.DataFrame:
    seqs, ids = read_inputs(path, art)
    if art["vocab"] is None and any(np.isnan(s).any() for s in seqs):
        raise DataError(f"{path} has missing values (NaN) inside a sequence; fill them first")
    if art["vocab"] is None and any(np.abs(s).max(initial=0) > MAX_ABS32 for s in seqs):
        raise DataError(f"{path} holds an infinite or overflowing value inside a sequence; fix it first")
    xs = prepare_inputs(seqs, art)
    model.eval()
    probs = []
    for i in range(0, len(xs), BATCH):
        x, mask = collate(xs[i : i + BATCH])
        probs.append(torch.softmax(model(x, mask).float(), -1))
    p = torch.cat(probs).numpy()  # (N, K)
    classes = art["classes"]
    frame = pd.DataFrame({"id": ids, "label": [classes[k] for k in p.argmax(1)]})
    for k, c in enumerate(classes):
        frame[f"p_{c}"] = np.round(p[:, k], 6)
    return frame


def prepare_inputs(seqs: list[np.ndarray], art: dict[str, Any]) -> list[torch.Tensor]:
    """New sequences as a finished run saw its training data (truncated, derivatives added, scaled)."""
    limit = art["max_length"]
    if art["vocab"] is not None:
        return [torch.from_numpy(s[:limit] if limit else s) for s in seqs]
    mean, std = np.array(art["mean"], np.float32), np.array(art["std"], np.float32)
    out = []
    for s in seqs:
        s = s[:limit] if limit else s
        s = with_derivative(s) if art.get("derivative") else s
        if s.shape[1] != len(mean):
            raise DataError(f"sequences have {s.shape[1]} channels; the run was trained on {len(mean)}")
        out.append(torch.from_numpy((s - mean) / std).float())
    return out
