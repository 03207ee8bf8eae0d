from __future__ import annotations

import pytest

from seqarena.config import build
from seqarena.errors import ConfigError
from seqarena.models.base import count_params
from seqarena.tasks.forecast import ForecastTask

DATA = {"data": "synthetic", "data_args": {"length": 600, "channels": 3}, "lookback": 48, "horizon": 12}


@pytest.mark.parametrize(
    "model",
    [
        {"name": "rnn"},
        {"name": "lstm"},
        {"name": "gru", "bidirectional": True},
        {"name": "lstm", "residual": True},
        {"name": "transformer", "num_heads": 4},
        {"name": "transformer", "num_layers": 1},
        {"name": "local_attention"},
        {"name": "linear_attention"},
        {"name": "tcn"},
        {"name": "tcn", "separable": True},
        {"name": "s4d"},
        {"name": "hybrid"},
        {"name": "lstm_attention"},
        {"name": "lstm_gru"},
        {"name": "mamba"},
        {"name": "peephole_lstm"},
        {"name": "layernorm_lstm"},
        {"name": "grud"},
        {"name": "grud", "masked": True, "num_layers": 2},
    ],
)
@pytest.mark.parametrize("target", [50_000, 200_000])
def test_params_budget_lands_within_five_percent(model: dict, target: int) -> None:
    cfg = build({"task": DATA, "model": {**model, "params": target}})
    task = ForecastTask(cfg)
    got = count_params(task.build_model(task.cfg))
    assert abs(got - target) <= 0.05 * target, (model, got)
    if "num_heads" in model:
        assert task.cfg.model.d_model % model["num_heads"] == 0


def test_impossible_budget_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot be sized|beyond"):
        ForecastTask(build({"task": DATA, "model": {"name": "transformer", "num_layers": 6, "params": 100}}))
