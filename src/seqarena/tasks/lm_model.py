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
