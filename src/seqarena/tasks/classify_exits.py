"""Early exit for classification (`task.exits=true`; BranchyNet, Teerapittayanon et al., 2016; DeeBERT, Xin et al.,
2020): a classifier after every backbone layer, trained together on the mean of their losses. At inference each
sequence stops at the first exit whose top class probability reaches `task.exit_threshold`, so easy sequences
run fewer layers: the depth is input-dependent. The rows still undecided go on alone (the batch shrinks layer by
layer), so the time saved is real; a threshold of 1 runs every sequence through every layer.

A backbone takes part by running layer by layer: stages(), begin(x), stage(i, h, mask), finish(h) (the
Transformer family has them, models/transformer.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import SequenceModel
from seqarena.tasks.classify_model import ClassifyModel, patches, pool


def why_no_exits(net: SequenceModel) -> str | None:
    if all(hasattr(net, m) for m in ("stages", "begin", "stage", "finish")):
        return None
    return (f"model '{net.name}' cannot stop between its layers; task.exits needs a Transformer-family backbone "
            f"(transformer, local_attention, linear_attention, bigbird, lsh_attention)")  # fmt: skip


class ExitClassifier(ClassifyModel):
    """ClassifyModel with an exit after every layer; `head` is the last one. forward in training mode gives the
    last exit's logits (as ClassifyModel does); `exits` gives every exit's, `decide` the early-exit answer."""

    def __init__(self, *args, threshold: float = 0.9, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        why = why_no_exits(self.net)
        if why is not None:
            raise ConfigError(why)
        self.threshold = threshold
        d, k = self.net.cfg.d_model, self.n_classes
        self.early = nn.ModuleList(nn.Linear(d, k) for _ in range(self.net.stages() - 1))  # exits before the last

    def _start(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.patch > 1:
            x, mask = patches(x, mask, self.patch)  # (B, T / P, P * C), (B, T / P)
        return self.net.begin(self.embed(x)), mask  # (B, T, D)

    def _logits(self, i: int, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.net.finish(h)  # (B, T, D)
        scores = self.score(y).squeeze(-1) if self.score is not None else None
        head = self.early[i] if i < len(self.early) else self.head
        return head(self.drop(pool(y, mask, self.pooling, scores)))  # (B, K)

    def exits(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Every exit's class logits, first layer to last: n_layers x (B, K)."""
        h, mask = self._start(x, mask)
        out = []
        for i in range(self.net.stages()):
            h = self.net.stage(i, h, mask if self.needs_mask else None)
            out.append(self._logits(i, h, mask))
        return out

    def decide(self, x: torch.Tensor, mask: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, K) of the exit each sequence took, its depth (B,) in layers): the first exit whose top
        probability reaches `threshold`, else the last."""
        h, mask = self._start(x, mask)
        n = self.net.stages()
        logits = h.new_zeros(len(h), self.n_classes)
        depth = torch.full((len(h),), n, dtype=torch.long, device=h.device)
        rows = torch.arange(len(h), device=h.device)  # the sequences still running
        for i in range(n):
            h = self.net.stage(i, h, mask if self.needs_mask else None)
            if i < n - 1 and threshold >= 1:  # never stops early (a saturated softmax can round to 1.0): no exit
                continue
            out = self._logits(i, h, mask)
            last = torch.ones_like(rows, dtype=torch.bool)
            done = last if i == n - 1 else out.softmax(-1).amax(-1) >= threshold
            logits[rows[done]], depth[rows[done]] = out[done], i + 1
            rows, h, mask = rows[~done], h[~done], mask[~done]
            if not len(rows):
                break
        return logits, depth

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.exits(x, mask)[-1]
        return self.decide(x, mask, self.threshold)[0]


@torch.inference_mode()
def exit_metrics(
    model: ExitClassifier, batches: list[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor, device: torch.device
) -> dict[str, object]:
    """What early exit did on a split: mean layers run (`depth`, of `layers`), the share of sequences leaving at
    each exit, and every exit's own accuracy (the last one's is the full-depth accuracy)."""
    was = model.training
    model.eval()
    depths, right = [], []
    for x, mask in batches:
        x, mask = x.to(device), mask.to(device)
        depths.append(model.decide(x, mask, model.threshold)[1].cpu())
        right.append(torch.stack([o.argmax(-1).cpu() for o in model.exits(x, mask)]))  # (exits, B)
    model.train(was)
    depth, n = torch.cat(depths), model.net.stages()
    hits = torch.cat(right, 1) == y[None, :]  # (exits, N)
    return {
        "depth": float(depth.double().mean()),
        "layers": n,
        "exit_shares": [float((depth == i + 1).double().mean()) for i in range(n)],
        "exit_accuracy": [float(h.double().mean()) for h in hits],
        "full_depth_accuracy": float(hits[-1].double().mean()),
        "exit_threshold": model.threshold,
    }


def exits_loss(model: ExitClassifier, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of every exit."""
    outs = model.exits(x, mask)
    return torch.stack([F.cross_entropy(o, y, ignore_index=-1) for o in outs]).mean()
