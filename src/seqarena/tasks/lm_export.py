"""What a language-model run exports: the window graph (token ids -> next-token log-probabilities at every
position) and, for a stateful backbone, the decoder step with its state as named inputs and outputs: an RNN's or
SSM's hidden state, or a Transformer's past keys and values with a variable past length (present ones out), in
the manner of a with-past decoder export."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from seqarena.deploy.graphs import STEPS, Graph, step_graph, stepped
from seqarena.errors import SeqarenaError
from seqarena.tasks.lm_model import LMModel


class WindowLogProbs(nn.Module):
    def __init__(self, model: LMModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h, _ = self.model.hidden(ids)  # (B, T, D)
        B, T, D = h.shape
        return self.model.log_probs(h.reshape(B * T, D)).view(B, T, -1)  # (B, T, V)


class StepLogProbs(nn.Module):
    def __init__(self, model: LMModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # ids: (B, 1) -> log-probabilities of the next token (B, V), and the state after it
        h, new = self.model.hidden(ids, tuple(state))
        return (self.model.log_probs(h[:, -1]), *new)


def export_graphs(model: LMModel, art: dict[str, Any]) -> list[Graph]:
    vocab = art["vocab_size"]
    gen = torch.Generator().manual_seed(0)

    def draw(batch: int, length: int) -> torch.Tensor:
        return torch.randint(0, vocab, (batch, length), generator=gen)  # (B, T) ids

    block = int(art["block_size"])  # a model with a position limit (a KV cache) was trained within it
    L1, L2 = min(8, block), min(13, block)
    window = Graph(
        "window",
        WindowLogProbs(model),
        ("ids",),
        ("logprobs",),
        (draw(2, L1),),
        (draw(3, L2),),
        ({0: "batch", 1: "length"},),
        note=f"ids (batch, length) -> logprobs (batch, length, {vocab}): the next token at every position",
    )
    if not model.capabilities().stateful:
        return [window]
    step = StepLogProbs(model)
    init = stepped(step, model.init_state, lambda b: draw(b, 1))

    note = f"ids (batch, 1), state -> logprobs (batch, {vocab}) of the next token, state"
    drift = min(STEPS, max(1, block - 6))
    graph = step_graph("step", step, "ids", "logprobs", lambda b: draw(b, 1), {0: "batch"}, init, note, drift)
    return [window, graph]


class OnnxLM(nn.Module):
    """Stands in for the eager language model in evaluate(): "hidden" outputs are already log-probabilities. With
    a state (a carried stream), the step graph runs token by token."""

    def __init__(self, model: LMModel, graphs: Any) -> None:
        super().__init__()
        self.eager, self.graphs = model, graphs

    def init_state(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
        return self.eager.init_state(batch)

    def hidden(self, ids: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple | None]:
        if state is None and self.graphs.has("window"):
            return self.graphs.run("window", ids)[0], None  # (B, T, V)
        if state is None:  # streams only: step from the initial state
            out, _ = self.hidden(ids, self.init_state(ids.shape[0]))
            return out, None
        if not self.graphs.has("step"):
            raise RuntimeError("this export has no step graph to carry a stream's state")
        out = []
        for t in range(ids.shape[1]):
            logp, *state = self.graphs.run("step", ids[:, t : t + 1], *state)
            out.append(logp)
        return torch.stack(out, dim=1), tuple(state)  # (B, T, V)

    def nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -h.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double()  # (B, T)


class LMStreamer:
    """Token-by-token language modelling from the carried state (the step graph, ONNX Runtime or eager): `step`
    feeds text, `continuation` extends it one token at a time. A model whose state grows (a KV cache) is limited
    to the block size it was trained on; a recurrent or state-space one streams without end."""

    def __init__(self, run: Any, graphs: Any) -> None:
        if not graphs.has("step"):
            raise SeqarenaError(f"{run.run_dir} cannot stream: model '{run.config.model.name}' carries no state")
        self.graphs, self.model = graphs, run.model
        self.tokenizer = run.artifacts["tokenizer_obj"]
        cap = run.model.capabilities()
        self.limit = None if cap.streaming else int(run.artifacts["block_size"])
        self.reset()

    def reset(self) -> None:
        self.state, self.logp, self.tokens = self.model.init_state(1), None, 0

    def _feed(self, token: int) -> None:
        if self.limit is not None and self.tokens >= self.limit:
            raise SeqarenaError(f"the stream reached the model's context of {self.limit} tokens; reset it")
        logp, *state = self.graphs.run("step", torch.tensor([[token]]), *self.state)
        self.logp, self.state, self.tokens = logp[0], tuple(state), self.tokens + 1

    def step(self, text: str) -> dict[str, Any]:
        """Feed `text`; the most likely next token after it."""
        started = time.perf_counter()
        ids = self.tokenizer.encode(text) if text else [self.tokenizer.start_id()]
        for token in ids:
            self._feed(token)
        best = int(self.logp.argmax())
        ms = (time.perf_counter() - started) * 1e3
        nxt = {"id": best, "text": self.tokenizer.decode([best]), "p": float(self.logp[best].exp())}
        return {"tokens": len(ids), "next": nxt, "ms": ms}

    def continuation(self, n: int, temperature: float = 0.0, seed: int = 0) -> Iterator[dict[str, Any]]:
        """`n` new tokens, greedy (temperature 0) or sampled, each with its text and the step's latency."""
        if self.logp is None:
            self.step("")
        gen = torch.Generator().manual_seed(seed)
        for _ in range(n):
            started = time.perf_counter()
            if temperature > 0:
                probs = torch.softmax(self.logp.float() / temperature, -1)
                token = int(torch.multinomial(probs, 1, generator=gen))
            else:
                token = int(self.logp.argmax())
            self._feed(token)
            yield {"id": token, "text": self.tokenizer.decode([token]), "ms": (time.perf_counter() - started) * 1e3}
