"""Early exit (task.exits): the Transformer run layer by layer is its forward, the threshold decides the depth (0:
the first exit, 1: every layer), a trained classifier stops easy sequences early and still answers right, and what
cannot exit is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import seqarena
from seqarena.deploy.export import export
from seqarena.errors import ConfigError
from seqarena.registry import get_model
from seqarena.tasks.classify_exits import ExitClassifier
from test_classify import train_cfg, wave_table

QUIET = {"log": lambda _: None}


@pytest.mark.parametrize("extra", [{}, {"causal": True, "positions": "learned"}, {"name": "local_attention"}])
def test_a_transformer_run_layer_by_layer_is_its_forward(extra: dict) -> None:
    torch.manual_seed(0)
    cls = get_model(extra.get("name", "transformer"))
    net = cls(cls.Config(d_model=16, num_heads=2, num_layers=3, **{k: v for k, v in extra.items() if k != "name"}))
    x, mask = torch.randn(2, 9, 16), torch.tensor([[True] * 9, [True] * 5 + [False] * 4])
    with torch.no_grad():
        h = net.eval().begin(x)
        for i in range(net.stages()):
            h = net.stage(i, h, mask)
        torch.testing.assert_close(net.finish(h), net(x, mask=mask)[0], rtol=1e-5, atol=1e-5)


def test_the_threshold_decides_the_depth() -> None:
    torch.manual_seed(0)
    cls = get_model("transformer")
    model = ExitClassifier(cls(cls.Config(d_model=16, num_heads=2, num_layers=3)), 2, 4, "mean").eval()
    x, mask = torch.randn(5, 11, 2), torch.ones(5, 11, dtype=torch.bool)
    mask[2, 6:] = False
    with torch.no_grad():
        every = model.exits(x, mask)
        first, d0 = model.decide(x, mask, 0.0)
        last, d1 = model.decide(x, mask, 1.0)
        some, d = model.decide(x, mask, float(every[0].softmax(-1).amax(-1).median()))
    assert len(every) == 3 and d0.tolist() == [1] * 5 and d1.tolist() == [3] * 5
    torch.testing.assert_close(first, every[0])
    torch.testing.assert_close(last, every[-1])
    early = d == 1  # the rows sure enough at the first exit keep its answer, the others go on
    assert 0 < int(early.sum()) < 5
    torch.testing.assert_close(some[early], every[0][early])
    rest = ~early
    torch.testing.assert_close(some[rest], torch.stack([every[int(k) - 1][i] for i, k in enumerate(d)])[rest])


def test_a_trained_classifier_stops_easy_sequences_early(tmp_path: Path) -> None:
    data = wave_table(tmp_path / "waves.csv")
    model = {"name": "transformer", "d_model": 24, "num_layers": 3}
    cfg = train_cfg(str(data), model, epochs=12, patch=4, exits=True, exit_threshold=0.9)
    cfg["train"]["lr"] = 3e-3
    result = seqarena.train(cfg, tmp_path / "run", **QUIET)
    test = result.results["test"]
    exits = test["exits"]
    assert exits["layers"] == 3 and exits["depth"] < 2.5, exits  # most sequences leave before the last layer
    assert test["accuracy"] >= 0.75 and exits["full_depth_accuracy"] >= 0.75, test  # three classes: chance 1/3
    assert sum(exits["exit_shares"]) == pytest.approx(1.0)
    assert seqarena.evaluate(tmp_path / "run", "test")["accuracy"] == pytest.approx(test["accuracy"])
    with pytest.raises(ConfigError, match="a fixed ONNX graph cannot"):
        export(tmp_path / "run", tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_what_cannot_exit_is_refused(tmp_path: Path) -> None:
    data = str(wave_table(tmp_path / "waves.csv", n=30))
    with pytest.raises(ConfigError, match="cannot stop between its layers"):
        seqarena.train(train_cfg(data, {"name": "lstm"}, exits=True), tmp_path / "a", **QUIET)
    with pytest.raises(ConfigError, match="set task.exits=true"):
        seqarena.train(train_cfg(data, {"name": "transformer"}, exit_threshold=0.5), tmp_path / "b", **QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
