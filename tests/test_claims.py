"""`seqarena claims`: every claim's experiment runs at the tiny scale and writes a verdict with figures; the
outputs are JSON, Markdown and self-contained HTML; bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seqarena.claims import check, claims
from seqarena.claims.base import VERDICTS
from seqarena.claims.cost import _naive
from seqarena.claims.measure import saved_bytes
from seqarena.errors import SeqarenaError


def test_every_claim_runs_its_tiny_experiment_and_reports_a_verdict(tmp_path: Path) -> None:
    doc = check("tiny", out=tmp_path / "claims", log=lambda _: None)
    assert len(doc["claims"]) >= 12 and len(doc["claims"]) == len(claims())
    for c in doc["claims"]:
        assert c["verdict"] in VERDICTS and c["because"], c["name"]
        assert c["statement"] and c["source"] and c["experiment"]
        assert c["command"].startswith("seqarena claims") and c["name"] in c["command"]
        if c["verdict"] != "pending":
            assert c["figures"], f"{c['name']} reported no figures"
    by_name = {c["name"]: c for c in doc["claims"]}
    gru = by_name["gru_parameters"]
    assert gru["verdict"] == "refuted" and abs(gru["figures"][0]["value"] - 0.75) < 0.01  # a quarter, not a third
    written = json.loads((tmp_path / "claims" / "claims.json").read_text())
    assert [c["name"] for c in written["claims"]] == list(by_name)
    md = (tmp_path / "claims" / "claims.md").read_text()
    html = (tmp_path / "claims" / "claims.html").read_text()
    assert all(name in md and name in html for name in by_name)
    assert "http" not in html.split("<body>")[0], "the page loads nothing from the network"


def test_activation_memory_is_quadratic_for_naive_attention_and_linear_for_sdpa() -> None:
    def mem(fn, n: int) -> int:
        q, k, v = (torch.randn(1, 2, n, 16, requires_grad=True) for _ in range(3))
        return saved_bytes(lambda: fn(q, k, v))

    naive = mem(_naive, 512) / mem(_naive, 256)
    sdpa = mem(F.scaled_dot_product_attention, 512) / mem(F.scaled_dot_product_attention, 256)
    assert 3.0 < naive <= 4.2 and 1.5 < sdpa < 2.5, (naive, sdpa)


def test_saved_bytes_leaves_the_weights_out() -> None:
    layer = torch.nn.Linear(256, 256)
    x = torch.randn(4, 256, requires_grad=True)
    assert saved_bytes(lambda: layer(x), layer.parameters()) < saved_bytes(lambda: layer(x))


def test_an_unknown_claim_or_scale_is_one_line(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "seqarena", "claims", "--out", str(tmp_path / "c")]
    for extra, says in (
        (["--only", "gru_paramters"], "did you mean 'gru_parameters'"),
        (["--quick", "--full"], "one of"),
    ):
        done = subprocess.run([*cli, *extra], capture_output=True, text=True)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    assert not (tmp_path / "c").exists()
    with pytest.raises(SeqarenaError, match="unknown scale"):
        check("medium")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SeqarenaError, match="is a file"):
        check("tiny", only=["gru_parameters"], out=tmp_path / "file")


def test_one_claim_alone_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "c"
    cli = [sys.executable, "-m", "seqarena", "claims", "--tiny", "--only", "gru_parameters", "--out", str(out)]
    done = subprocess.run(cli, capture_output=True, text=True, check=True)
    assert "gru_parameters" in done.stdout and "refuted" in done.stdout
    assert {p.name for p in out.iterdir()} == {"claims.json", "claims.md", "claims.html"}
