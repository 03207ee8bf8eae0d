"""What a sequence-to-sequence run exports: an encoder graph (source ids and mask -> the decoder's initial state)
and a decoder step graph (the previous target token and the state -> next-token log-probabilities and the new
state), the state flat and named: for a recurrent form the encoder memory, the source mask and the decoder's
hidden state; for the Transformer form the cross-attention keys and values, the source mask, the decoder's past
keys and values (a variable past length) and the position."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.deploy.graphs import Graph, state_names
from seqarena.models.encdec import RecurrentEncDec
from seqarena.models.transformer import sinusoidal

DRIFT = 100  # decoder steps of the drift test


def flatten(model: nn.Module, state: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    if isinstance(model, RecurrentEncDec):
        return (state["memory"], state["mask"], *state["dec"])
    kv = [t for pair in state["kv"] for t in pair]
    caches = []
    for (k, _), cache in zip(state["kv"], state["caches"], strict=True):
        empty = k.new_zeros(k.shape[0], k.shape[1], 0, k.shape[3])  # (B, h, 0, hd): nothing decoded yet
        caches += [empty, empty.clone()] if cache is None else list(cache)
    pos = state["pos"] if torch.is_tensor(state["pos"]) else torch.tensor([state["pos"]])
    return (*kv, state["mask"], *caches, pos)


class Encoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return flatten(self.model, self.model.start(src, mask))


class DecoderStep(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # tokens: (B,) the previous target token -> (B, V) log-probabilities of the next one, the new state
        m = self.model
        if isinstance(m, RecurrentEncDec):
            memory, mask, dec = state[0], state[1], tuple(state[2:])
            logp, new = m.step(tokens, {"memory": memory, "mask": mask, "dec": dec})
            return (logp, memory, mask, *new["dec"])
        n = len(m.blocks)
        kv = [(state[2 * i], state[2 * i + 1]) for i in range(n)]
        mask, pos = state[2 * n], state[-1]
        caches = [(state[2 * n + 1 + 2 * i], state[2 * n + 2 + 2 * i]) for i in range(n)]
        x = m.tgt_embed(tokens[:, None]) + sinusoidal(pos, m.cfg.d_model)[:, None].to(m.out.weight.dtype)  # (B, 1, D)
        new = []
        for i, block in enumerate(m.blocks):
            x, cache, _ = block(x, caches[i], 0, kv[i], mask)
            new += list(cache)
        logp = F.log_softmax(m.out(m.norm(x))[:, -1].float(), -1)  # (B, V)
        return (logp, *[t for pair in kv for t in pair], mask, *new, pos + 1)


def export_graphs(model: nn.Module, art: dict[str, Any]) -> list[Graph]:
    src_vocab, tgt_vocab = len(art["src_vocab"]), len(art["tgt_vocab"])
    gen = torch.Generator().manual_seed(0)

    def source(batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.randint(4, src_vocab, (batch, length), generator=gen)  # (B, S), past the special ids
        lengths = torch.randint(max(1, length // 2), length + 1, (batch,), generator=gen)
        lengths[0] = length
        mask = torch.arange(length)[None, :] < lengths[:, None]
        return ids.masked_fill(~mask, 0), mask

    encoder, step = Encoder(model).eval(), DecoderStep(model).eval()

    def init(batch: int, steps: int, length: int = 6) -> tuple[torch.Tensor, ...]:
        with torch.inference_mode():
            state = encoder(*source(batch, length))
            for _ in range(steps):
                state = step(torch.randint(4, tgt_vocab, (batch,), generator=gen), *state)[1:]
        return tuple(s.clone() for s in state)

    base, axes = init(2, 3), []
    for a, b, c, d in zip(base, init(3, 3), init(2, 5), init(2, 3, 8), strict=True):
        named = {}
        for i, (n, m, k, s) in enumerate(zip(a.shape, b.shape, c.shape, d.shape, strict=True)):
            if n != m:
                named[i] = "batch"
            elif n != k:
                named[i] = "past"
            elif n != s:
                named[i] = "source"
        axes.append(named)
    ins, outs = state_names(len(base))
    enc = Graph(
        "encoder", encoder, ("src", "mask"), outs, source(2, 6), source(3, 9),
        ({0: "batch", 1: "source"}, {0: "batch", 1: "source"}),
        note="src (batch, source) ids, mask (batch, source) -> the decoder's initial state",
    )  # fmt: skip
    drift = [torch.randint(4, tgt_vocab, (3,), generator=gen) for _ in range(DRIFT)]
    dec = Graph(
        "step", step, ("tokens", *ins), ("logprobs", *outs),
        (torch.randint(4, tgt_vocab, (2,), generator=gen), *base),
        (torch.randint(4, tgt_vocab, (3,), generator=gen), *init(3, 5, 8)),
        ({0: "batch"}, *axes), state=len(ins), steps=drift,
        note=f"tokens (batch,) the previous target id, state -> logprobs (batch, {tgt_vocab}), state",
    )  # fmt: skip
    return [enc, dec]


class OnnxEncDec(nn.Module):
    """Stands in for the eager encoder-decoder in evaluate(): teacher-forced log-probabilities step by step, and
    start/step/reorder for greedy and beam decoding, all through the exported graphs."""

    def __init__(self, graphs: Any, batch_axes: list[int | None]) -> None:
        super().__init__()
        self.graphs, self.batch_axes = graphs, batch_axes

    def start(self, src: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.graphs.run("encoder", src, mask)

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, tuple]:
        logp, *new = self.graphs.run("step", tokens, *state)
        return logp, tuple(new)

    def reorder(self, state: tuple[torch.Tensor, ...], index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(s if a is None else s.index_select(a, index) for s, a in zip(state, self.batch_axes, strict=True))

    def forward(self, src: torch.Tensor, mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        state, out = self.start(src, mask), []
        for t in range(tgt_in.shape[1]):
            logp, state = self.step(tgt_in[:, t], state)
            out.append(logp)
        return torch.stack(out, dim=1)  # (B, T, V) log-probabilities (cross-entropy of them is the NLL)


def onnx_model(run: Any, graphs: Any) -> OnnxEncDec:
    step = next(g for g in export_graphs(run.model, run.artifacts) if g.name == "step")
    axes = [next((i for i, n in a.items() if n == "batch"), None) for a in step.dynamic[1:]]
    return OnnxEncDec(graphs, axes)
