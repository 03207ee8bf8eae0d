"""The SequenceModel contract.

A backbone maps (B, T, D) -> (B, T, D) with D = config.d_model and carries state through one interface:
`init_state(batch)` then `forward(x, state) -> (y, state)`: an RNN's hidden state, a Transformer's KV cache.
For a stateful model, feeding a sequence in pieces with the returned state equals feeding it whole.

A forecaster (kind="forecaster") maps a lookback window (B, L, C) straight to a forecast (B, H, C); the
baselines (last value, seasonal naive, linear) are forecasters.

What a model can do is declared by `capabilities_of(config)`, readable without building the model; tasks state
what they require (tasks/base.py), and `seqarena.testing.check_model` checks that every declaration is honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

State = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Capabilities:
    family: str
    kind: Literal["backbone", "forecaster"] = "backbone"
    causal: bool = True  # output at t depends only on inputs <= t
    bidirectional: bool = False
    stateful: bool = False  # supports init_state / forward(x, state) stepping
    trainable: bool = True  # False for parameter-free baselines
    streaming: bool = False  # a fixed-size state that forgets (recurrent, SSM, TCN): a language model carries it
    # across training windows (truncated BPTT) and through a whole stream; others work within a context window
    time_aware: bool = False  # forward(x, state, dt=(B, T) time gaps) uses uneven time between steps (GRU-D)
    masks: bool = False  # forward(x, mask=(B, T) valid steps) ignores right padding; a causal model needs no mask
    # (its outputs at valid steps never see the padding after them), a non-causal one does


@dataclass(frozen=True)
class ForecastSpec:
    """What a forecaster needs to know about its task."""

    lookback: int
    horizon: int
    channels: int  # input channels C (outputs have the same C; the task selects target channels)
    period: int = 1


class SequenceModel(nn.Module):
    name: ClassVar[str]
    Config: ClassVar[type]
    kind: ClassVar[str] = "backbone"  # "forecaster": constructed as cls(config, ForecastSpec)
    onnx_exporter: ClassVar[str] = "dynamo"  # what `seqarena export` tries first (the other one if it fails)
    onnx_variable_length: ClassVar[bool] = True  # False: a Python loop over time steps, so a traced graph keeps
    # the example's length (its step graph, T = 1, exports; a whole window of any length does not)
    cfg: Any

    @classmethod
    def capabilities_of(cls, cfg: Any) -> Capabilities:
        """What a model built from `cfg` can do (e.g. a bidirectional LSTM is not causal)."""
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        return self.capabilities_of(self.cfg)

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        raise TypeError(f"model '{self.name}' is not stateful: it cannot be stepped through time")

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State | None]:
        raise NotImplementedError


def tracing() -> bool:
    """True while torch.export or the TorchScript tracer records the model for ONNX: code then avoids what a graph
    cannot hold (complex tensors, Python numbers read from tensors, branches on a variable length)."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def detach_state(state: State | None) -> State | None:
    return None if state is None else tuple(s.detach() for s in state)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
