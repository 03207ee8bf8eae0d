"""A tagger around any backbone: token embedding -> backbone -> a softmax over tags at every step; `collate` pads
sentences of token ids (and their tag ids) into a batch and its mask.

Batches are right-padded. A causal backbone needs no mask (its output at a valid step never sees the padding after
it); a bidirectional or Transformer encoder gets the mask and honours it (packed sequences, key-padding masks).
"""

from __future__ import annotations

import torch
from torch import nn

from seqarena.data.labelled import PAD
from seqarena.errors import ConfigError
from seqarena.models.base import SequenceModel

IGNORE = -1  # the tag id of padding: cross-entropy ignores it


def collate(xs: list[torch.Tensor], ys: list[torch.Tensor] | None = None):
    """Right-pad (T_i,) token ids: (B, T_max) ids, the (B, T_max) mask, and (B, T_max) tag ids (IGNORE on
    padding) when `ys` is given."""
    lengths = torch.tensor([len(x) for x in xs])
    x = nn.utils.rnn.pad_sequence(xs, batch_first=True, padding_value=PAD)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    if ys is None:
        return x, mask
    return x, mask, nn.utils.rnn.pad_sequence(ys, batch_first=True, padding_value=IGNORE)


class TagModel(nn.Module):
    def __init__(self, net: SequenceModel, vocab_size: int, n_tags: int) -> None:
        super().__init__()
        cap = net.capabilities()
        if cap.kind != "backbone":
            raise ConfigError(f"model '{net.name}' is a {cap.kind}; sequence labelling needs a sequence backbone")
        d = net.cfg.d_model
        self.net, self.n_tags = net, n_tags
        self.needs_mask = not cap.causal
        self.embed = nn.Embedding(vocab_size, d, padding_idx=PAD)
        self.drop = nn.Dropout(getattr(net.cfg, "dropout", 0.0))
        self.head = nn.Linear(d, n_tags)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids, (B, T) valid steps -> (B, T, K) tag logits."""
        z = self.drop(self.embed(x))  # (B, T, D)
        h, _ = self.net(z, **({"mask": mask} if self.needs_mask else {}))  # (B, T, D)
        return self.head(self.drop(h))  # (B, T, K)
