from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("SEQARENA_DATA_DIR", str(SHARED_DATA))
    # two threads alone; one per xdist worker (make test runs a worker per core)
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(torch.get_num_threads(), 2))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQARENA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def _quiet_logger_after() -> Iterator[None]:
    """A test that runs the command in-process (`seqarena.cli.main` turns progress messages on, bound to that test's
    captured stderr) leaves the logger quiet again for the next test in its worker."""
    yield
    from seqarena import logs

    logs.verbose(False)
    logs.LOGGER.setLevel(logging.NOTSET)


@pytest.fixture
def data_dir() -> Path:
    path = Path(os.environ["SEQARENA_DATA_DIR"])
    if not (path / "ett-small" / "ETTh1.csv").is_file():
        pytest.fail(f"SEQARENA_DATA_DIR={path} lacks ett-small/ETTh1.csv; point it at shared/data")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A URL template (`.format(db=...)`) of a real PostgreSQL server started for this test session. Without the
    server binaries the tests that need one are skipped here, and fail in CI (.ci/run installs postgresql)."""
    from postgres import binaries, server

    bindir = binaries()
    if bindir is None:
        message = "PostgreSQL server binaries not found: apt-get install postgresql (CI installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with server(bindir) as url:
        yield url
