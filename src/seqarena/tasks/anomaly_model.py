"""A detector around any backbone, and its per-step anomaly scores over a whole series.

score="forecast": a causal backbone predicts x[t+1] at every step; a step's score is its squared one-step error
(mean over channels), each step predicted from the window with the most context before it (at least window/2
steps, except at the start). score="reconstruction": a window passes through a `bottleneck`-wide code (the mean of
the backbone's states) and is rebuilt; a step's score is its squared reconstruction error averaged over the
windows (stride window/2) that hold it. Any backbone serves; a bidirectional one sees the whole window.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqarena.errors import ConfigError
from seqarena.models.base import SequenceModel


class AnomalyModel(nn.Module):
    def __init__(self, net: SequenceModel, channels: int, window: int, score: str, bottleneck: int) -> None:
        super().__init__()
        cap = net.capabilities()
        if cap.kind != "backbone":
            raise ConfigError(f"model '{net.name}' is a {cap.kind}; anomaly detection needs a sequence backbone")
        d = net.cfg.d_model
        self.net, self.score, self.window, self.channels = net, score, window, channels
        self.inp = nn.Linear(channels, d)
        if score == "forecast":
            self.head = nn.Linear(d, channels)
        else:
            self.squeeze, self.expand = nn.Linear(d, bottleneck), nn.Linear(bottleneck, window * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) normalised values -> (B, W, C): the next step's prediction at each step (forecast), or the
        window rebuilt from its code (reconstruction)."""
        h, _ = self.net(self.inp(x))  # (B, W, D)
        if self.score == "forecast":
            return self.head(h)  # (B, W, C)
        code = self.squeeze(h.mean(1))  # (B, bottleneck)
        return self.expand(code).view(len(x), self.window, self.channels)  # (B, W, C)


def window_loss(model: AnomalyModel, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error on (B, W + 1, C) windows."""
    if model.score == "forecast":
        return ((model(x[:, :-1]) - x[:, 1:]) ** 2).mean()
    return ((model(x[:, 1:]) - x[:, 1:]) ** 2).mean()


def _starts(n: int, window: int, stride: int) -> list[int]:
    starts = list(range(0, n - window + 1, stride))
    return starts if starts[-1] == n - window else [*starts, n - window]


@torch.inference_mode()
def point_scores(model: AnomalyModel, x: torch.Tensor, batch_size: int, device: torch.device) -> np.ndarray:
    """(T, C) normalised series -> (T,) scores; NaN where a step has none (the first step of a forecaster)."""
    was_training = model.training
    model.eval()
    w, n = model.window, len(x)
    forecast = model.score == "forecast"
    span = n - 1 if forecast else n  # inputs x[s : s + w]; a forecaster's targets are x[s + 1 : s + w + 1]
    if span < w:
        raise ConfigError(f"the series has {n} steps, fewer than task.window={w} (+1); lower task.window")
    starts = _starts(span, w, max(1, w // 2))
    errors = []
    for i in range(0, len(starts), batch_size):
        s = torch.tensor(starts[i : i + batch_size])
        idx = s[:, None] + torch.arange(w)[None, :]  # (B, W)
        xb = x[idx].to(device)  # (B, W, C)
        target = x[idx + 1].to(device) if forecast else xb
        errors.append(((model(xb).float() - target) ** 2).mean(-1).cpu())  # (B, W)
    err = torch.cat(errors).double().numpy()  # (K, W)
    model.train(was_training)
    if forecast:  # later windows first, so the window with the most context before a step writes it last
        out = np.full(n, np.nan)
        for k in reversed(range(len(starts))):
            out[starts[k] + 1 : starts[k] + w + 1] = err[k]
        return out
    total, count = np.zeros(n), np.zeros(n)
    for k, s in enumerate(starts):
        total[s : s + w] += err[k]
        count[s : s + w] += 1
    return total / count


def last_value_scores(x: torch.Tensor) -> np.ndarray:
    """The baseline: the squared change from the previous step (mean over channels); NaN at the first step."""
    d = ((x[1:] - x[:-1]) ** 2).mean(-1).double().numpy()  # (T - 1,)
    return np.r_[np.nan, d]
