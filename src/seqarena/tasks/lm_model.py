"""A language model around any causal backbone: token embedding -> backbone -> output layer.

The output layer is a full softmax (optionally tied to the embedding) or an adaptive softmax (Grave et al. 2017),
which on a CPU makes a large vocabulary affordable: the softmax over 33k words is most of a training step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from seqarena.errors import ConfigError
from seqarena.models.base import Capabilities, SequenceModel, State


class LMModel(nn.Module):
    def __init__(
        self,
        net: SequenceModel,
        vocab_size: int,
        head: str,
        cutoffs: list[int],
        tie: bool,
        rank: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        cap = net.capabilities()
        if cap.kind != "backbone" or not cap.causal:
            why = "bidirectional: it sees the next token" if cap.bidirectional else "not a causal backbone"
            raise ConfigError(f"model '{net.name}' cannot be a language model ({why})")
        d = net.cfg.d_model
        self.net, self.vocab_size, self.head_kind = net, vocab_size, head
        self.grad_checkpointing = False
        self.embed = nn.Embedding(vocab_size, d)
        self.drop = nn.Dropout(getattr(net.cfg, "dropout", 0.0))
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        if head == "adaptive":
            if tie:
                raise ConfigError("task.tie_weights needs task.head=full (the adaptive softmax has no single matrix)")
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(d, vocab_size, cutoffs, div_value=4.0)
            # the adaptive softmax wants frequent tokens first: rank[id] is the token's frequency rank
            self.register_buffer("rank", rank if rank is not None else torch.arange(vocab_size), persistent=False)
        else:
            self.out = nn.Linear(d, vocab_size)
            nn.init.zeros_(self.out.bias)
            if tie:
                self.out.weight = self.embed.weight

    def capabilities(self) -> Capabilities:
        return self.net.capabilities()

    def init_state(self, batch: int, device: torch.device | None = None) -> State:
        return self.net.init_state(batch, device)

    def hidden(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State | None]:
        # ids: (B, T) -> (B, T, D)
        x = self.drop(self.embed(ids))
        if self.grad_checkpointing and self.training and state is None:
            h = checkpoint(lambda z: self.net(z)[0], x, use_reentrant=False)
            return self.drop(h), None
        h, state = self.net(x, state)
        return self.drop(h), state

    def nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each target: (B, T, D), (B, T) -> (B, T)."""
        flat = h.reshape(-1, h.shape[-1])
        if self.head_kind == "adaptive":
            out = self.adaptive(flat, self.rank[targets.reshape(-1)]).output
            return (-out).view(targets.shape)
        logits = self.out(flat)  # (B*T, V)
        return F.cross_entropy(logits, targets.reshape(-1), reduction="none").view(targets.shape)

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, V) log-probabilities indexed by token id."""
        if self.head_kind == "adaptive":
            return self.adaptive.log_prob(h)[:, self.rank]
        return F.log_softmax(self.out(h).float(), dim=-1)

    def forward(
        self, ids: torch.Tensor, targets: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State | None]:
        """Mean NLL over the window and the state after it."""
        h, state = self.hidden(ids, state)
        return self.nll(h, targets).mean(), state


def stream_nll(model: LMModel, ids: torch.Tensor, window: int) -> float:
    """Total NLL of ids[1:] given everything before, as one stream with the state carried."""
    state = model.init_state(1, ids.device)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, len(ids) - 1, window):
        x = ids[i : i + window][None]  # (1, w)
        y = ids[i + 1 : i + 1 + window][None]
        x = x[:, : y.shape[1]]
        h, state = model.hidden(x, state)
        total += model.nll(h, y).double().sum().cpu()
    return float(total)


def window_nll(model: LMModel, ids: torch.Tensor, block: int, stride: int | None, batch_size: int) -> float:
    """Total NLL of ids[1:] with a context of at most `block` tokens: disjoint blocks, or sliding windows scoring only
    the tokens past the previous window's end."""
    n = len(ids) - 1
    windows = []  # (start, length, first scored position within the window)
    if not stride:
        windows = [(s, min(block, n - s), 0) for s in range(0, n, block)]
    else:
        if not 1 <= stride <= block:
            raise ConfigError(f"task.eval_stride={stride} must be within 1..task.block_size={block}")
        done = 0
        for s in range(0, n, stride):
            end = min(s + block, n)
            windows.append((s, end - s, done - s))
            done = end
            if end == n:
                break
    total = torch.zeros((), dtype=torch.float64)
    by_length: dict[int, list[tuple[int, int]]] = {}
    for s, length, first in windows:
        by_length.setdefault(length, []).append((s, first))
    for length, group in by_length.items():
        span = torch.arange(length + 1, device=ids.device)
        for i in range(0, len(group), batch_size):
            part = group[i : i + batch_size]
            chunk = ids[torch.tensor([s for s, _ in part], device=ids.device)[:, None] + span]  # (b, length + 1)
            h, _ = model.hidden(chunk[:, :-1])
            nll = model.nll(h, chunk[:, 1:])  # (b, length)
            keep = torch.arange(length, device=ids.device)[None] >= torch.tensor([f for _, f in part])[:, None]
            total += (nll * keep).double().sum().cpu()
    return float(total)
