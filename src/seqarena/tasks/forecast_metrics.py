"""Forecast metrics as running sums, so a split's every window counts once and many series pool exactly:
MSE/MAE on scaled values; MAE/RMSE/MAPE/sMAPE/MASE in data units; from quantiles CRPS (approximated by twice the
mean pinball loss over task.quantiles, scaled values), and per central interval its coverage and MSIS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from seqarena.tasks.forecast_dist import levels as interval_levels

POINT = ("se", "ae", "ae_orig", "se_orig", "ape", "ape_n", "sape", "sape_n", "ase", "se_last", "count", "windows")


class Sums:
    """Running sums of one series (or, added together, of many) for one split."""

    def __init__(self, quantiles: Sequence[float] = ()) -> None:
        self.quantiles = list(quantiles)
        self.levels = interval_levels(self.quantiles) if self.quantiles else []
        self.s = dict.fromkeys(POINT, 0.0) | {"pinball": 0.0, "q_count": 0}
        for level in self.levels:
            self.s[f"in_{level}"] = 0.0
            self.s[f"is_{level}"] = 0.0

    def __add__(self, other: Sums) -> Sums:
        out = Sums(self.quantiles)
        out.s = {k: self.s[k] + other.s[k] for k in self.s}
        return out

    def add(self, pred: torch.Tensor, y: torch.Tensor, last: torch.Tensor, norm: dict[str, torch.Tensor],
            q_pred: torch.Tensor | None = None) -> None:  # fmt: skip
        """pred, y: (b, H, C) scaled; last: (b, 1, C) the last observed values; q_pred: (b, H, C, Q) scaled;
        norm: the series' mean, std, mase scale and MAPE floor (C,), float64."""
        s = self.s
        pred, y, last = pred.double(), y.double(), last.double()
        err = pred - y
        s["se_last"] += float(((last - y) ** 2).sum())
        s["se"] += float((err**2).sum())
        s["ae"] += float(err.abs().sum())
        std, mean = norm["std"], norm["mean"]
        p_orig, y_orig = pred * std + mean, y * std + mean
        e_orig = (p_orig - y_orig).abs()
        s["ae_orig"] += float(e_orig.sum())
        s["se_orig"] += float((e_orig**2).sum())
        s["ase"] += float((e_orig / norm["scale"]).sum())
        nz = y_orig.abs() > norm["floor"]  # near-zero targets make a percentage meaningless
        s["ape"] += float((e_orig[nz] / y_orig.abs()[nz]).sum())
        s["ape_n"] += int(nz.sum())
        denom = p_orig.abs() + y_orig.abs()
        ok = denom > 1e-8
        s["sape"] += float((2 * e_orig[ok] / denom[ok]).sum())
        s["sape_n"] += int(ok.sum())
        s["count"] += y.numel()
        s["windows"] += y.shape[0]
        if q_pred is not None:
            self._add_quantiles(q_pred.float(), y.float(), std, norm["scale"])

    def _add_quantiles(self, q_pred: torch.Tensor, y: torch.Tensor, std: torch.Tensor, scale: torch.Tensor) -> None:
        """float32 arithmetic, float64 sums: q_pred (b, H, C, Q), y (b, H, C)."""
        q = torch.tensor(self.quantiles, dtype=torch.float32)
        diff = y.unsqueeze(-1) - q_pred  # (b, H, C, Q)
        loss = diff * (q - (diff < 0).float())  # the pinball loss: q * diff above, (q - 1) * diff below
        self.s["pinball"] += float(loss.sum(dtype=torch.float64)) / len(self.quantiles)
        self.s["q_count"] += y.numel()
        weight = (std / scale).float()  # (C,): MSIS is in data units over the MASE scale
        for level in self.levels:
            alpha = 1 - level / 100
            lo = q_pred[..., self.quantiles.index(round(alpha / 2, 6))]
            hi = q_pred[..., self.quantiles.index(round(1 - alpha / 2, 6))]
            self.s[f"in_{level}"] += int(((y >= lo) & (y <= hi)).sum())
            outside = (lo - y).clamp_(min=0) + (y - hi).clamp_(min=0)
            score = (hi - lo) + (2 / alpha) * outside  # the interval score, scaled units
            self.s[f"is_{level}"] += float((score * weight).sum(dtype=torch.float64))

    def metrics(self) -> dict[str, Any]:
        s, n = self.s, max(self.s["count"], 1)
        out = {
            "loss": s["se"] / n,
            "mse": s["se"] / n,
            "mae": s["ae"] / n,
            "mae_orig": s["ae_orig"] / n,
            "rmse_orig": (s["se_orig"] / n) ** 0.5,
            "mape": 100 * s["ape"] / max(s["ape_n"], 1),
            "smape": 100 * s["sape"] / max(s["sape_n"], 1),
            "mase": s["ase"] / n,
            "last_value_mse": s["se_last"] / n,
            "windows": int(s["windows"]),
        }
        if self.s["q_count"]:
            nq = s["q_count"]
            out["crps"] = 2 * s["pinball"] / nq
            for level in self.levels:
                out[f"coverage_{level}"] = s[f"in_{level}"] / nq
                out[f"msis_{level}"] = s[f"is_{level}"] / nq
        return out
