"""Shipping: ONNX export with parity, int8, streaming (equal to predict and to the whole-window graph)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.test_cli import assert_clean_error, cli

from seqarena.deploy.export import TOLERANCE, export
from seqarena.deploy.quantize import quantize
from seqarena.deploy.runtime import OnnxGraphs
from seqarena.deploy.stream import open_stream
from seqarena.errors import SeqarenaError
from seqarena.models.s4d import S4D, S4DConfig
from seqarena.run import load, predict, train

QUIET = ["train.progress=false"]


def corpus(path: Path) -> Path:
    path.write_text("".join(f"line {i % 7} of a small corpus, said the {['cat', 'dog'][i % 2]}.\n" for i in range(600)))
    return path


def sines(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        k, length = i % 2, int(rng.integers(20, 41))
        wave = np.sin(2 * math.pi * (k + 1) * np.arange(length) / 20) + 0.2 * rng.normal(size=length)
        rows.append({"label": f"c{k}", **{f"t{j}": v for j, v in enumerate(wave)}})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("deploy")
    specs = {
        "forecast": ["model.name=lstm", "model.d_model=64", "train.max_epochs=2"],
        "classify": ["task.name=classify", f"task.data={sines(root / 'sines.csv')}", "model.name=gru",
                     "model.d_model=16", "task.pooling=mean", "train.max_epochs=3"],
        "lm": ["task.name=lm", f"task.data={corpus(root / 'corpus.txt')}", "model.name=lstm", "model.d_model=16",
               "train.max_epochs=1"],
    }  # fmt: skip
    out = {}
    for name, overrides in specs.items():
        out[name] = train({}, root / name, overrides=[*overrides, *QUIET], log=lambda *a, **k: None).run_dir
        export(out[name])
    return out


def test_every_graph_matches_eager_on_a_second_shape_and_over_100_steps(runs: dict[str, Path]) -> None:
    for name, run_dir in runs.items():
        manifest = OnnxGraphs(run_dir / "export").manifest
        assert manifest["refused"] == {}, (name, manifest["refused"])
        graphs = manifest["graphs"]
        assert "window" in graphs and graphs["window"]["exporter"] in ("dynamo", "torchscript")
        for g in graphs.values():
            assert max(g["parity"].values()) <= TOLERANCE
        if name != "forecast":  # stateful models: a step graph with named state fed back
            step = graphs["step"]
            assert step["parity"]["drift"] <= TOLERANCE and step["drift_steps"] == 100 and step["state"] >= 1
            assert [k for k in step["inputs"] if k.startswith("state_in_")] == [
                k.replace("out", "in") for k in step["outputs"] if k.startswith("state_out_")
            ]
            assert step["inputs"]["state_in_0"]["shape"].count(None) >= 1  # the batch is a variable axis


def test_forecast_stream_gives_exactly_the_predict_numbers(runs: dict[str, Path], tmp_path: Path) -> None:
    from seqarena.data.embedded import load_embedded

    values = pd.Series(load_embedded("co2")[0].values[:, 0]).interpolate().to_numpy()[:400]
    table = tmp_path / "co2.csv"
    pd.DataFrame({"co2": values}).to_csv(table, index=False)
    expected = predict(runs["forecast"], table)[0]["co2"].to_numpy()
    for kind in ("onnx", "eager"):
        streamer = open_stream(runs["forecast"], kind)
        outs = [streamer.step([v]) for v in values]
        lookback = load(runs["forecast"]).model.spec.lookback
        assert not outs[lookback - 2]["ready"] and outs[lookback - 1]["ready"]
        np.testing.assert_allclose(outs[-1]["forecast"]["co2"], expected, rtol=0, atol=1e-3)
        streamer.reset()
        assert not streamer.step([values[0]])["ready"]


def test_classify_stream_ends_at_the_whole_sequence_probabilities(runs: dict[str, Path]) -> None:
    run = load(runs["classify"])
    seq = np.sin(2 * math.pi * np.arange(30) / 20)[:, None]
    art = run.artifacts
    x = torch.from_numpy((seq - np.array(art["mean"])) / np.array(art["std"])).float()[None]
    with torch.inference_mode():  # what predict computes: scaled values through the trained model
        whole = torch.softmax(run.model(x, torch.ones(1, 30, dtype=torch.bool)), -1)[0].numpy()
    for kind in ("onnx", "eager"):
        streamer = open_stream(runs["classify"], kind)
        for v in seq[:, 0]:
            out = streamer.step([v])
        assert out["step"] == 30
        np.testing.assert_allclose(list(out["probs"].values()), whole, atol=1e-5)


def test_lm_stream_continues_alike_on_onnx_and_eager(runs: dict[str, Path]) -> None:
    texts = []
    for kind in ("onnx", "eager"):
        streamer = open_stream(runs["lm"], kind)
        streamer.step("line 3 of a small")
        texts.append("".join(t["text"] for t in streamer.continuation(12)))
    assert texts[0] == texts[1] and len(texts[0]) > 0


def test_int8_is_smaller_and_scored_on_the_task_metric(runs: dict[str, Path]) -> None:
    report = quantize(runs["forecast"], calls=20)
    window = report["graphs"]["window"]
    assert window["int8_bytes"] <= 0.3 * window["fp32_bytes"], window
    assert window["int8_ops"] > 0 and report["metric"]["name"] == "mse"
    fp32, int8 = report["metric"]["fp32"], report["metric"]["int8"]
    assert math.isfinite(int8) and abs(int8 - fp32) < 0.5 * fp32  # int8 keeps the model, with a measured change
    assert report["latency_b1_ms"]["graph"] == "window" and report["latency_b1_ms"]["int8"] > 0
    assert (runs["forecast"] / "export" / "window.int8.onnx").is_file()


def test_s4d_real_arithmetic_path_equals_the_complex_one() -> None:
    torch.manual_seed(0)
    model = S4D(S4DConfig(d_model=16, d_state=8)).eval()
    x, more = torch.randn(3, 50, 16), torch.randn(3, 7, 16)
    y1, s1 = model(x)
    y2, s2 = model(x, real=True)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    z1, _ = model(more, s1)
    z2, _ = model(more, s2, real=True)
    torch.testing.assert_close(z1, z2, atol=1e-5, rtol=1e-5)


def test_export_refuses_clearly(runs: dict[str, Path], tmp_path: Path) -> None:
    assert_clean_error(cli("export", str(tmp_path / "none")), "is not a finished run")
    assert_clean_error(cli("export", str(runs["forecast"]), "--exporter", "tf"), "is not one of")
    (tmp_path / "f").write_text("x")
    assert_clean_error(cli("export", str(runs["forecast"]), "--out", str(tmp_path / "f")), "is a file")
    assert_clean_error(cli("quantize", str(runs["forecast"]), "--export", str(tmp_path)), "holds no ONNX export")
    assert_clean_error(cli("stream", str(runs["forecast"]), "--backend", "tpu"), "is not one of")
    bad = subprocess.run(
        [sys.executable, "-m", "seqarena", "stream", str(runs["forecast"])], input="1.0\nabc\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: cannot read 'abc' as numbers")
    assert bad.stdout.count("ready") == 1  # the good row before it was answered


def test_a_stateless_classifier_does_not_stream(runs: dict[str, Path], tmp_path: Path) -> None:
    data = next(runs["classify"].parent.glob("sines.csv"))
    overrides = ["task.name=classify", f"task.data={data}", "model.name=transformer", "model.d_model=16"]
    run = train({}, tmp_path / "tf", overrides=[*overrides, "train.max_steps=1", *QUIET], log=lambda *a, **k: None)
    with pytest.raises(SeqarenaError, match="cannot stream: the backbone is not a causal stateful model"):
        open_stream(run.run_dir, "eager")


def test_arena_export_adds_the_deployable_cost(tmp_path: Path) -> None:
    from seqarena.arena.results import collect
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare

    spec = parse({"models": "lstm", "budget": {"params": "10k", "epochs": 1}, "seeds": 1, "export": True,
                  "task": {"data": "co2"}})  # fmt: skip
    compare(spec, tmp_path / "arena", log=lambda *a, **k: None)
    _, points = collect(tmp_path / "arena")
    board = {b["label"]: b for b in points[0]["board"]}
    for label in ("lstm", "linear"):
        assert board[label]["onnx_latency_b1_ms"] > 0 and board[label]["int8_kb"] > 0
        assert math.isfinite(board[label]["int8_metric_change"])
    assert "int8 KB" in (tmp_path / "arena" / "report.md").read_text()
