"""Every registered model passes the public conformance suite (seqarena.testing), on its default config and on
the variants below (scikit-learn's parametrize_with_checks idea)."""

from __future__ import annotations

import pytest

from seqarena.registry import get_model, model_names
from seqarena.testing import check_model, model_checks

VARIANTS = {  # extra configurations worth covering beyond the defaults
    "lstm": [{"residual": True}, {"bidirectional": True}, {"num_layers": 3, "dropout": 0.1}],
    "gru": [{"residual": True}, {"bidirectional": True}],
    "rnn": [{"nonlinearity": "relu"}, {"residual": True}],
    "transformer": [
        {"causal": True},
        {"causal": True, "positions": "learned"},
        {"positions": "none"},
        {"causal": True, "positions": "rope"},
        {"causal": True, "positions": "alibi"},
        {"positions": "alibi"},
        {"positions": "rope", "num_heads": 2},
    ],
    "linear": [{"individual": True}, {"decompose": False}],
    "local_attention": [
        {"causal": True, "window": 4, "global_tokens": 2},
        {"window": 3, "global_tokens": 0},
        {"causal": True, "window": 1, "global_tokens": 0},
    ],
    "linear_attention": [{"chunk": 5}, {"causal": False}],
    "bigbird": [
        {"block": 4},
        {"block": 4, "causal": True, "random_blocks": 1},
        {"block": 3, "global_blocks": 0, "causal": True},
        {"block": 5, "global_blocks": 2, "random_blocks": 0, "positions": "learned"},
    ],
    "lsh_attention": [{"bucket_size": 4, "buckets": 4}, {"bucket_size": 3, "causal": True, "n_hashes": 1}],
    "memory_transformer": [{"segment": 5, "memory": 2}, {"segment": 7, "memory": 1, "num_layers": 1, "dropout": 0.1}],
    "tcn": [{"separable": True}, {"kernel_size": 2, "num_layers": 2, "dropout": 0.1}],
    "s4d": [{"d_state": 8, "num_layers": 1}],
    "hybrid": [{"pattern": "RA", "rnn": "gru"}, {"pattern": "AAR", "dropout": 0.1}, {"pattern": "RR"}],
    "lstm_attention": [{"num_layers": 2}],
    "lstm_gru": [{"lstm_layers": 2, "gru_layers": 1}],
    "peephole_lstm": [{"num_layers": 1}, {"num_layers": 3, "dropout": 0.1}],
    "layernorm_lstm": [{"num_layers": 1}],
    "mamba": [{"d_state": 4, "expand": 1, "d_conv": 2, "num_layers": 1}, {"scan": "chunked", "scan_chunk": 5}],
    "grud": [{"num_layers": 2, "dropout": 0.1}, {"masked": True}],
    "ode_rnn": [{"num_layers": 2, "dropout": 0.1, "solver": "euler", "ode_steps": 2}, {"solver": "dopri5"}],
    "separable_rnn": [{"num_layers": 1, "dropout": 0.1}],
    "tapered": [{"cell": "gru", "taper": 1.0}, {"cell": "rnn", "num_layers": 2, "dropout": 0.1}],
}
CASES = [(name, {}) for name in model_names()] + [(n, v) for n, vs in VARIANTS.items() for v in vs]
CHECKS = [(name, extra, check) for name, extra in CASES for check, _ in model_checks(name, **extra)]


def case_id(name: str, extra: dict, check: str) -> str:
    return name + "".join(f"-{k}={v}" for k, v in extra.items()) + f"::{check}"


@pytest.mark.parametrize(("name", "extra", "check"), CHECKS, ids=[case_id(*c) for c in CHECKS])
def test_model_passes_check(name: str, extra: dict, check: str) -> None:
    dict(model_checks(name, **extra))[check]()


def test_variants_name_real_options() -> None:
    for name, variants in VARIANTS.items():
        fields = set(get_model(name).Config.__dataclass_fields__)
        for variant in variants:
            assert set(variant) <= fields, (name, variant)


def test_check_model_names_the_failed_check() -> None:
    """A model whose declared capabilities lie fails with the check named."""
    from dataclasses import dataclass
    from typing import Any

    import torch

    from seqarena.models.base import Capabilities, SequenceModel
    from seqarena.registry import _MODELS, register_model

    @dataclass(kw_only=True)
    class PeekConfig:
        name: str = "peek"
        d_model: int = 4

    @register_model("peek")
    class Peek(SequenceModel):
        """Claims to be causal but mixes in the next step."""

        Config = PeekConfig

        def __init__(self, cfg: PeekConfig) -> None:
            super().__init__()
            self.cfg, self.w = cfg, torch.nn.Linear(cfg.d_model, cfg.d_model)

        @classmethod
        def capabilities_of(cls, cfg: Any) -> Capabilities:
            return Capabilities(family="test", causal=True)

        def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
            return self.w(x + torch.roll(x, -1, dims=1)), None

    try:
        with pytest.raises(AssertionError, match="check 'causality' failed"):
            check_model(Peek)
    finally:
        _MODELS.pop("peek")
