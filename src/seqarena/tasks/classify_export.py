"""What a classification run exports: the window graph (a padded batch and its mask -> class probabilities) and,
for a causal stateful backbone, a step graph giving running class probabilities from the carried state."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from seqarena.data.labelled import encode_chars
from seqarena.deploy.graphs import Graph, step_graph, stepped
from seqarena.tasks.classify_model import ClassifyModel

STREAM_POOLINGS = ("last", "mean", "max")  # poolings a stream can carry as state


class Features(nn.Module):
    """Raw values as training saw them: first differences appended (0 at the first step) when the run used them,
    then the training mean and std; token ids pass through."""

    def __init__(self, art: dict[str, Any]) -> None:
        super().__init__()
        self.tokens, self.derivative = art["vocab"] is not None, bool(art.get("derivative"))
        n = len(art["channels"])
        mean = torch.tensor(art["mean"] or [0.0] * n, dtype=torch.float32)
        std = torch.tensor(art["std"] or [1.0] * n, dtype=torch.float32)
        self.register_buffer("mean", mean)  # (C,)
        self.register_buffer("std", std)
        self.raw = n // 2 if self.derivative else n  # channels a caller gives

    def forward(self, x: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, C_raw) values; previous: (B, 1, C_raw) the step before x (a stream), or None (a whole window)
        if self.tokens:
            return x
        if self.derivative:
            before = torch.cat([x[:, :1], x[:, :-1]], dim=1) if previous is None else previous  # (B, T, C_raw)
            x = torch.cat([x, x - before], dim=-1)  # (B, T, 2 C_raw)
        return (x - self.mean) / self.std


class Probabilities(nn.Module):
    def __init__(self, model: ClassifyModel, art: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.features = model, Features(art)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        if not self.features.tokens:
            z = z * mask.unsqueeze(-1)  # padding is zero after scaling, as in training
        return torch.softmax(self.model(z, mask), dim=-1)  # (B, K)


class RunningProbabilities(nn.Module):
    """One step of a causal backbone: (x_t, *backbone state, *pooling state) -> (probabilities after t, *state).
    The pooling state is nothing (last), the running sum and count (mean) or the running maximum (max), so the
    probabilities after the last step equal the window graph's on the whole sequence; with first differences the
    previous observation and a first-step flag are carried too."""

    def __init__(self, model: ClassifyModel, n_state: int, art: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.n_state, self.features = model, n_state, Features(art)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # x: (B, 1, C_raw) values or (B, 1) token ids
        m = self.model
        net_state, carry = state[: self.n_state], list(state[self.n_state :])
        tail: tuple[torch.Tensor, ...] = ()
        if self.features.derivative:
            previous, seen = carry[-2], carry[-1]  # (B, C_raw), (B, 1): 0 before the first step
            before = torch.where(seen[:, None] > 0, previous[:, None], x)  # (B, 1, C_raw)
            z = self.features(x, before)
            tail, carry = (x[:, 0], torch.ones_like(seen)), carry[:-2]
        else:
            z = self.features(x)
        h, new = m.net(m.embed(z), tuple(net_state))  # (B, 1, D)
        h = h[:, 0]  # (B, D)
        if m.pooling == "mean":
            total, count = carry[0] + h, carry[1] + 1.0  # (B, D), (B, 1)
            feats, pooled = total / count, (total, count)
        elif m.pooling == "max":
            feats = torch.maximum(carry[0], h)
            pooled = (feats,)
        else:
            feats, pooled = h, ()
        return (torch.softmax(m.head(feats), dim=-1), *new, *pooled, *tail)

    def initial(self, batch: int) -> tuple[torch.Tensor, ...]:
        m, d = self.model, self.model.net.cfg.d_model
        carry: tuple[torch.Tensor, ...] = ()
        if m.pooling == "mean":
            carry = (torch.zeros(batch, d), torch.zeros(batch, 1))
        elif m.pooling == "max":
            carry = (torch.full((batch, d), float("-inf")),)
        if self.features.derivative:
            carry = (*carry, torch.zeros(batch, self.features.raw), torch.zeros(batch, 1))
        return (*m.net.init_state(batch), *carry)


def why_no_stream(model: ClassifyModel) -> str | None:
    cap = model.net.capabilities()
    if not (cap.stateful and cap.causal):
        return "the backbone is not a causal stateful model"
    if model.pooling not in STREAM_POOLINGS:
        return f"task.pooling={model.pooling} cannot be carried step by step (use {', '.join(STREAM_POOLINGS)})"
    if model.patch > 1:
        return "task.patch > 1 groups steps into patches"
    return None


def export_graphs(model: ClassifyModel, art: dict[str, Any]) -> list[Graph]:
    tokens = art["vocab"] is not None
    channels = Features(art).raw
    gen = torch.Generator().manual_seed(0)

    def draw(batch: int, length: int) -> torch.Tensor:
        if tokens:
            return torch.randint(2, len(art["vocab"]) + 2, (batch, length), generator=gen)  # (B, T) ids
        scale = Features(art)
        z = torch.randn(batch, length, channels, generator=gen)  # (B, T, C_raw) around the training values
        return z * scale.std[:channels] + scale.mean[:channels]

    def mask(batch: int, length: int) -> torch.Tensor:
        lengths = torch.randint(max(1, length // 2), length + 1, (batch,), generator=gen)
        lengths[0] = length
        return torch.arange(length)[None, :] < lengths[:, None]  # (B, T)

    patch = model.patch
    L1, L2 = 4 * patch, 7 * patch
    x_axes = {0: "batch", 1: "length"}
    what = "ids (batch, length)" if tokens else f"x (batch, length, {channels})"
    window = Graph(
        "window",
        Probabilities(model, art),
        ("x", "mask"),
        ("probs",),
        (draw(2, L1), mask(2, L1)),
        (draw(5, L2), mask(5, L2)),
        (x_axes, {0: "batch", 1: "length"}),
        note=f"{what}, mask (batch, length) valid steps -> probs (batch, {len(art['classes'])} classes)",
    )
    if why_no_stream(model) is not None:
        return [window]
    step = RunningProbabilities(model, len(model.net.init_state(1)), art)
    init = stepped(step, step.initial, lambda b: draw(b, 1))

    one = "ids (batch, 1)" if tokens else f"x (batch, 1, {channels})"
    note = f"{one}, state -> probs after this step, state"
    return [window, step_graph("step", step, "x", "probs", lambda b: draw(b, 1), {0: "batch"}, init, note)]


class OnnxClassifier(nn.Module):
    """Stands in for the eager classifier in evaluate(), which passes scaled features: they are turned back into
    raw values for the window graph, and its probabilities into log-probabilities (softmax gives them back)."""

    def __init__(self, graphs: Any, art: dict[str, Any]) -> None:
        super().__init__()
        self.graphs, self.features = graphs, Features(art)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        f = self.features
        if not f.tokens:
            x = (x * f.std + f.mean)[..., : f.raw]  # (B, T, C_raw): the graph computes differences itself
        return torch.log(self.graphs.run("window", x, mask)[0].clamp_min(1e-30))  # (B, K)


class ClassifyStreamer:
    """Running class probabilities: each new observation (a raw value per channel, or one character) moves the
    carried state one step (the step graph, ONNX Runtime or eager)."""

    def __init__(self, run: Any, graphs: Any) -> None:
        from seqarena.errors import SeqarenaError

        why = why_no_stream(run.model)
        if why is not None or not graphs.has("step"):
            raise SeqarenaError(f"{run.run_dir} cannot stream: {why or 'its export has no step graph'}")
        art = run.artifacts
        self.graphs, self.classes, self.art = graphs, art["classes"], art
        self.initial = RunningProbabilities(run.model, len(run.model.net.init_state(1)), art).initial
        self.raw = Features(art).raw
        self.reset()

    def reset(self) -> None:
        self.state, self.steps = self.initial(1), 0

    def _encode(self, observation: Any) -> torch.Tensor:
        from seqarena.errors import DataError

        if self.art["vocab"] is not None:
            text = str(observation)
            if len(text) != 1:
                raise DataError(f"a text run streams one character at a time, got {text!r}")
            return torch.from_numpy(encode_chars([text], self.art["vocab"])[0])[None]  # (1, 1)
        row = np.asarray(observation, dtype=np.float32).reshape(-1)
        if row.shape[0] != self.raw:
            raise DataError(f"an observation needs {self.raw} value(s), one per channel, got {len(row)}")
        if not np.isfinite(row).all():
            raise DataError("an observation holds a missing or infinite value")
        return torch.from_numpy(row)[None, None]  # (1, 1, C_raw)

    def step(self, observation: Any) -> dict[str, Any]:
        started = time.perf_counter()
        probs, *state = self.graphs.run("step", self._encode(observation), *self.state)
        self.state, self.steps = tuple(state), self.steps + 1
        p = probs[0].tolist()
        best = int(np.argmax(p))
        ms = (time.perf_counter() - started) * 1e3
        return {
            "step": self.steps,
            "label": self.classes[best],
            "probs": dict(zip(self.classes, p, strict=True)),
            "ms": ms,
        }
