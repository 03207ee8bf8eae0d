"""A sequence classifier around any backbone: input layer -> backbone -> pooling over the valid steps -> classes;
`collate` pads a list of sequences into a batch and its mask.

Batches are right-padded. A causal backbone needs no mask (its outputs at valid steps never see the padding after
them); a non-causal one (bidirectional RNN, Transformer encoder) gets the mask and honours it (packed sequences,
key-padding masks). Every pooling mode looks at valid steps only.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from seqarena.data.labelled import PAD
from seqarena.errors import ConfigError
from seqarena.models.base import SequenceModel


def collate(xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a list of (T_i, C) or (T_i,) tensors: (B, T_max, C) or (B, T_max), and the (B, T_max) mask."""
    lengths = torch.tensor([len(x) for x in xs])
    x = nn.utils.rnn.pad_sequence(xs, batch_first=True, padding_value=PAD)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x, mask


POOLINGS = ("last", "mean", "max", "attention")


def pool(h: torch.Tensor, mask: torch.Tensor, how: str, scores: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, D) outputs, (B, T) valid steps -> (B, D)."""
    m = mask.unsqueeze(-1)  # (B, T, 1)
    if how == "last":
        last = (mask.sum(1) - 1).clamp_min(0)  # (B,) index of the last valid step
        return h[torch.arange(len(h), device=h.device), last]
    if how == "mean":
        return (h * m).sum(1) / m.sum(1).clamp_min(1)
    if how == "max":
        return h.masked_fill(~m, float("-inf")).amax(1)
    if how == "attention":
        assert scores is not None
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return (weights.unsqueeze(-1) * h).sum(1)
    raise ConfigError(f"task.pooling={how!r} is not one of {', '.join(POOLINGS)}")


def patches(x: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Group `size` consecutive steps into one (PatchTST-style tokens): (B, T, C) -> (B, ceil(T / size), size * C);
    a patch is valid when its first step is (padding inside a patch is zeros)."""
    B, T, C = x.shape
    pad = -T % size
    x = nn.functional.pad(x * mask.unsqueeze(-1), (0, 0, 0, pad))  # (B, T + pad, C)
    mask = nn.functional.pad(mask, (0, pad))
    return x.reshape(B, -1, size * C), mask[:, ::size]


class ClassifyModel(nn.Module):
    def __init__(
        self,
        net: SequenceModel,
        in_dim: int,
        n_classes: int,
        pooling: str,
        vocab_size: int | None = None,
        patch: int = 1,
    ) -> None:
        super().__init__()
        cap = net.capabilities()
        if cap.kind != "backbone":
            raise ConfigError(f"model '{net.name}' is a {cap.kind}; classification needs a sequence backbone")
        if pooling not in POOLINGS:
            raise ConfigError(f"task.pooling={pooling!r} is not one of {', '.join(POOLINGS)}")
        if patch < 1 or (patch > 1 and vocab_size):
            raise ConfigError(f"task.patch={patch} must be >= 1, and 1 for character sequences")
        d = net.cfg.d_model
        self.net, self.pooling, self.n_classes, self.patch = net, pooling, n_classes, patch
        self.needs_mask = not cap.causal
        self.grad_checkpointing = False
        # characters: an embedding (id 0 pads); values: a linear map of the channels
        self.embed = nn.Embedding(vocab_size, d, padding_idx=0) if vocab_size else nn.Linear(in_dim * patch, d)
        self.score = nn.Linear(d, 1) if pooling == "attention" else None
        self.drop = nn.Dropout(getattr(net.cfg, "dropout", 0.0))
        self.head = nn.Linear(d, n_classes)

    def features(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, C) values or (B, T) token ids, (B, T) valid steps -> (B, D) pooled features."""
        if self.patch > 1:
            x, mask = patches(x, mask, self.patch)  # (B, T / P, P * C), (B, T / P)
        z = self.embed(x)  # (B, T, D)
        extra = {"mask": mask} if self.needs_mask else {}
        if self.grad_checkpointing and self.training:  # recompute the backbone in backward: less memory
            h = checkpoint(lambda v: self.net(v, **extra)[0], z, use_reentrant=False)
        else:
            h, _ = self.net(z, **extra)  # (B, T, D)
        scores = self.score(h).squeeze(-1) if self.score is not None else None  # (B, T)
        return pool(h, mask, self.pooling, scores)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K)."""
        return self.head(self.drop(self.features(x, mask)))
