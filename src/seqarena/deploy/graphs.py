"""What a task exports: named graphs with example inputs, a second shape for the parity check, and for step graphs
the state the caller feeds back. Only torch here; the ONNX side is deploy/export.py.

A window graph maps a whole input (a lookback window, a padded batch of sequences, token ids) to the task's output.
A step graph maps one step and the state to the output at that step and the new state: its last `state` inputs
are named state_in_<i> and its last `state` outputs state_out_<i>, in the same order, since ONNX Runtime is
stateless and the caller feeds the state back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

STEPS = 100  # steps of the drift test of a step graph


@dataclass
class Graph:
    name: str  # the file is <name>.onnx
    module: nn.Module  # forward(*inputs) -> one tensor or a tuple (outputs in order)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    example: tuple[torch.Tensor, ...]  # what the graph is traced with
    second: tuple[torch.Tensor, ...]  # another batch (and length): ONNX Runtime must match eager on it
    dynamic: tuple[dict[int, str], ...]  # per input: axis -> name of a variable dimension
    state: int = 0  # a step graph: the number of trailing state inputs/outputs
    steps: list[torch.Tensor] = field(default_factory=list)  # step inputs for the drift test (state fed back)
    note: str = ""  # what the graph is for, recorded in export.json
    fallback: str = ""  # why the preferred exporter failed, when the other one was used
    prefer: str = "dynamo"  # what exporter="auto" tries first (a model's onnx_exporter)


def state_names(n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(f"state_in_{i}" for i in range(n)), tuple(f"state_out_{i}" for i in range(n))


def state_axes(make: Callable[[int, int], tuple[torch.Tensor, ...]]) -> tuple[dict[int, str], ...]:
    """The variable axes of each state tensor: `make(batch, steps)` returns the state after `steps` steps of a
    batch; an axis that follows the batch is "batch", one that follows the steps is "past"."""
    base, wider, longer = make(2, 3), make(3, 3), make(2, 5)
    axes = []
    for a, b, c in zip(base, wider, longer, strict=True):
        named = {}
        for i, (n, m, k) in enumerate(zip(a.shape, b.shape, c.shape, strict=True)):
            if n != m:
                named[i] = "batch"
            elif n != k:
                named[i] = "past"
        axes.append(named)
    return tuple(axes)


def stepped(
    step: nn.Module, start: Callable[[int], tuple[torch.Tensor, ...]], draw: Callable[[int], torch.Tensor]
) -> Callable[[int, int], tuple[torch.Tensor, ...]]:
    """init(batch, steps): the state of `step` (forward(x, *state) -> (y, *state)) after `steps` steps of inputs
    drawn by `draw(batch)`, from `start(batch)`; a growing cache is then traced with a non-empty past."""

    def init(batch: int, steps: int) -> tuple[torch.Tensor, ...]:
        state = start(batch)
        with torch.inference_mode():
            for _ in range(steps):
                state = step(draw(batch), *state)[1:]
        return tuple(s.clone() for s in state)

    return init


def step_graph(
    name: str,
    module: nn.Module,
    x_name: str,
    out_name: str,
    make_x: Callable[[int], torch.Tensor],
    x_axes: dict[int, str],
    init: Callable[[int, int], tuple[torch.Tensor, ...]],
    note: str,
    steps: int = STEPS,
) -> Graph:
    """A step graph around `module(x_t, *state) -> (y_t, *state)`: `make_x(batch)` draws one step's input and
    `init(batch, steps)` the state after `steps` steps (so a growing cache is traced with a non-empty past)."""
    ins, outs = state_names(len(init(2, 3)))
    drift = [make_x(3) for _ in range(steps)]
    return Graph(
        name,
        module,
        (x_name, *ins),
        (out_name, *outs),
        (make_x(2), *init(2, 3)),
        (make_x(3), *init(3, 5)),
        (x_axes, *state_axes(init)),
        state=len(ins),
        steps=drift,
        note=note,
    )
