"""Structured pruning (`train.prune`, after `train.init`): whole units leave the backbone, so the pruned model is a
smaller model of the same kind (fewer parameters, less time per step), not a masked copy of the old one; training
then fine-tunes it.

- Recurrent stacks (lstm, gru, rnn): each layer keeps the same number of hidden units, those whose weights weigh
  most (the squared weights of the unit's rows in every gate of the input and recurrent matrices, its column of
  the recurrent matrix and of the next layer's input matrix). The config gains `model.units`, and a linear map
  (no bias) takes the last layer's kept units back to d_model; it starts as the selection of those units, so the
  pruned model computes exactly the old one with the removed units' outputs set to zero, before fine-tuning.
- Transformer feed-forward layers (every model built of the shared Transformer block): each block keeps the same
  number of hidden units of its MLP, ranked by their squared input and output weights; the config's `d_ff` shrinks.

A unit's importance is its weights' magnitude (Han et al., 2015; Li et al., 2017 for whole units), not a data
measure; fine-tuning recovers what the cut costs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import SequenceModel, count_params
from seqarena.models.rnn import _Recurrent
from seqarena.models.transformer import Block


def _backbone(model: nn.Module) -> tuple[nn.Module, str, SequenceModel]:
    """(parent module, attribute name, the backbone): the outermost SequenceModel inside a task's model."""
    for name, module in model.named_modules():
        if isinstance(module, SequenceModel) and name:
            parent_name, _, attr = name.rpartition(".")
            return model.get_submodule(parent_name), attr, module
    raise ConfigError("train.prune: this task's model holds no backbone to prune")


def why_not(net: SequenceModel) -> str | None:
    """Why `net` cannot be pruned structurally, or None."""
    cfg = net.cfg
    if isinstance(net, _Recurrent):
        if cfg.residual or cfg.bidirectional:
            return f"model '{net.name}' prunes as a plain stack only; set model.residual=false, bidirectional=false"
        return None
    if hasattr(cfg, "d_ff") and any(isinstance(m, Block) for m in net.modules()):
        return None
    return (f"model '{net.name}' has no units train.prune can remove: it prunes lstm, gru and rnn stacks and the "
            f"feed-forward layers of Transformer blocks")  # fmt: skip


def _kept(score: torch.Tensor, keep: int) -> torch.Tensor:
    return score.topk(keep).indices.sort().values  # (keep,) in their original order


def _recurrent(net: _Recurrent, keep: int) -> tuple[Any, dict[str, torch.Tensor]]:
    cfg, sd = net.cfg, net.state_dict()
    G, H, L = net.gates, net.hidden, cfg.num_layers
    w = lambda kind, layer: sd[f"layers.0.{kind}_l{layer}"]  # noqa: E731
    kept = []
    for layer in range(L):
        w_ih, w_hh = w("weight_ih", layer), w("weight_hh", layer)  # (G H, in), (G H, H)
        score = w_ih.view(G, H, -1).square().sum((0, 2)) + w_hh.view(G, H, H).square().sum((0, 2))
        score = score + w_hh.square().sum(0)  # (H,) rows in every gate, and the recurrent column
        if layer + 1 < L:
            score = score + w("weight_ih", layer + 1).square().sum(0)  # what the next layer reads of it
        kept.append(_kept(score, keep))
    new: dict[str, torch.Tensor] = {}
    for layer, idx in enumerate(kept):
        rows = (torch.arange(G)[:, None] * H + idx[None, :]).flatten()  # (G keep,) the unit in every gate
        w_ih = w("weight_ih", layer)[rows]
        new[f"layers.0.weight_ih_l{layer}"] = w_ih if layer == 0 else w_ih[:, kept[layer - 1]]
        new[f"layers.0.weight_hh_l{layer}"] = w("weight_hh", layer)[rows][:, idx]
        for kind in ("bias_ih", "bias_hh"):
            new[f"layers.0.{kind}_l{layer}"] = w(kind, layer)[rows]
    out = sd["out.weight"] if net.out is not None else torch.eye(cfg.d_model, H)  # (D, H)
    new["out.weight"] = out[:, kept[-1]].clone()  # (D, keep): the kept units back to d_model
    return replace(cfg, units=keep), new


def _feed_forward(net: SequenceModel, keep: int) -> tuple[Any, dict[str, torch.Tensor]]:
    new = dict(net.state_dict())
    for name, block in net.named_modules():
        if isinstance(block, Block):
            first, second = block.mlp[0], block.mlp[2]  # Linear(D, F), Linear(F, D)
            score = first.weight.detach().square().sum(1) + second.weight.detach().square().sum(0)  # (F,)
            idx = _kept(score, keep)
            new[f"{name}.mlp.0.weight"] = first.weight.detach()[idx]
            new[f"{name}.mlp.0.bias"] = first.bias.detach()[idx]
            new[f"{name}.mlp.2.weight"] = second.weight.detach()[:, idx]
    return replace(net.cfg, d_ff=keep), new


def prune(model: nn.Module, amount: float) -> tuple[Any, dict[str, Any]]:
    """Remove `amount` (0 < amount < 1) of every layer's units from the backbone inside `model`, in place: (the
    backbone's new config, what run.json records)."""
    parent, attr, net = _backbone(model)
    why = why_not(net)
    if why is not None:
        raise ConfigError(f"train.prune={amount}: {why}")
    if isinstance(net, _Recurrent):
        units = net.hidden
        keep = max(1, round(units * (1 - amount)))
        cfg, weights = _recurrent(net, keep)
    else:
        units = net.cfg.d_ff or 4 * net.cfg.d_model
        keep = max(1, round(units * (1 - amount)))
        cfg, weights = _feed_forward(net, keep)
    before = count_params(model)
    pruned = type(net)(cfg).to(next(net.parameters()).device)
    pruned.load_state_dict(weights)  # strict: every tensor of the smaller model is set
    setattr(parent, attr, pruned.train(net.training))
    kind = "hidden units per layer" if isinstance(net, _Recurrent) else "feed-forward units per block"
    return cfg, {"amount": amount, "units": kind, "from": units, "to": keep, "params_before": before,
                 "params_after": count_params(model)}  # fmt: skip
