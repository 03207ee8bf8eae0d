from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("SEQARENA_DATA_DIR", str(SHARED_DATA))
    torch.set_num_threads(min(torch.get_num_threads(), 2))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQARENA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def data_dir() -> Path:
    path = Path(os.environ["SEQARENA_DATA_DIR"])
    if not (path / "ett-small" / "ETTh1.csv").is_file():
        pytest.fail(f"SEQARENA_DATA_DIR={path} lacks ett-small/ETTh1.csv; point it at shared/data")
    return path
