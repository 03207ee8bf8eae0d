"""The probabilistic pieces of forecasting: quantiles of each distribution, conformal offsets, the metrics, and the
seasonal period a time column implies."""

from __future__ import annotations

import math

import pytest
import torch

from seqarena.data.timeseries import season_length
from seqarena.tasks import forecast_dist as dist
from seqarena.tasks.forecast_metrics import Sums

QS = [0.05, 0.1, 0.5, 0.9, 0.95]


def test_student_t_quantiles_match_published_values() -> None:
    # t tables: df 3 -> 1.638 (90%), 2.353 (95%); df 10 -> 1.372, 1.812
    z = math.sqrt(2) * torch.special.erfinv(2 * torch.tensor([0.9, 0.95], dtype=torch.float64) - 1)
    for df, want in ((3.0, (1.638, 2.353)), (10.0, (1.372, 1.812))):
        got = dist.t_quantile(z, torch.tensor(df, dtype=torch.float64))
        assert got.tolist() == pytest.approx(want, abs=2e-3)


def test_normal_quantiles_and_levels() -> None:
    out = torch.tensor([[[[1.0, 2.0]]]])  # loc 1, scale 2: (B, H, C, 2)
    q = dist.quantiles_of(out, "normal", QS)[0, 0, 0]
    assert q[2].item() == pytest.approx(1.0) and q[3].item() == pytest.approx(1 + 2 * 1.28155, abs=1e-4)
    assert dist.levels(QS) == [90, 80] and dist.levels([0.25, 0.5, 0.75, 0.3]) == [50]


def test_conformal_offsets_cover_with_the_finite_sample_rank() -> None:
    scores = torch.arange(1, 11, dtype=torch.float64).view(10, 1, 1)  # 1..10
    offsets = dist.conformal_offsets(scores, [0.1, 0.5, 0.9])  # the 80% interval: rank ceil(11 * 0.8) = 9
    assert offsets[:, 0, 0].tolist() == [-9.0, 0.0, 9.0]
    cqr = dist.cqr_offsets(torch.tensor([-1.0, 0.5, 2.0, -0.5]).view(4, 1, 1, 1), [0.1, 0.5, 0.9])
    assert cqr[:, 0, 0].tolist() == [-2.0, 0.0, 2.0]  # rank min(ceil(5 * 0.8), 4) = 4: the largest score


def test_quantile_loss_trains_quantiles_of_the_noise() -> None:
    torch.manual_seed(0)
    y = torch.randn(4000, 1, 1)
    q = torch.zeros(1, 1, 1, 3, requires_grad=True)
    opt = torch.optim.Adam([q], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        dist.loss(q.expand(4000, 1, 1, 3), y, "quantile", [0.1, 0.5, 0.9]).backward()
        opt.step()
    assert q.detach().flatten().tolist() == pytest.approx([-1.2816, 0.0, 1.2816], abs=0.08)


def test_sums_give_crps_coverage_and_msis() -> None:
    acc = Sums([0.1, 0.5, 0.9])
    y = torch.tensor([[[0.0], [2.0]]])  # (1, H=2, C=1)
    pred = torch.zeros(1, 2, 1)
    q = torch.tensor([[[[-1.0, 0.0, 1.0]], [[-1.0, 0.0, 1.0]]]])  # (1, 2, 1, 3)
    norm = {k: torch.ones(1, dtype=torch.float64) for k in ("std", "scale")}
    norm |= {"mean": torch.zeros(1, dtype=torch.float64), "floor": torch.zeros(1, dtype=torch.float64)}
    acc.add(pred, y, pred[:, :1], norm, q)
    m = acc.metrics()
    assert m["coverage_80"] == 0.5 and m["mae"] == 1.0
    # pinball at y=0: 0.1, 0, 0.1; at y=2: 0.3, 1.0, 0.9 (quantiles -1, 0, 1)
    assert m["crps"] == pytest.approx(2 * ((0.1 + 0 + 0.1) / 3 + (0.3 + 1.0 + 0.9) / 3) / 2)
    assert m["msis_80"] == pytest.approx((2 + (2 + 2 / 0.2 * 1)) / 2)


@pytest.mark.parametrize(
    ("freq", "period"), [("h", 24), ("15min", 96), ("D", 7), ("B", 5), ("W-SUN", 52), ("MS", 12), ("QE-DEC", 4)]
)
def test_the_season_follows_the_frequency(freq: str, period: int) -> None:
    assert season_length(freq) == period
