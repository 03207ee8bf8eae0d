"""What the arena measures for a forecaster besides quality: latency at batch 1 and 64 (median and p95), the cost
of folding one new observation into a stateful backbone's state, and the first test forecasts for the report."""

from __future__ import annotations

from typing import Any

import torch

from seqarena.profile import timed
from seqarena.tasks import forecast_dist as dist
from seqarena.tasks.forecast_model import ForecastModel

PREDICTION_WINDOWS = 50


@torch.inference_mode()
def latencies(model: ForecastModel) -> dict[str, Any]:
    model.eval()
    spec = model.spec
    channels = spec.channels + (1 if model.gaps else 0) + model.n_static
    n_future = 0 if model.future_head is None else model.future_head[0].in_features
    out: dict[str, Any] = {}
    for batch in (1, 64):
        x = torch.randn(batch, spec.lookback, channels)  # (B, L, C)
        future = [torch.randn(batch, spec.horizon, n_future)] if n_future else []  # (B, H, F)
        lat = timed(lambda x=x, future=future: model(x, *future), 30)
        out[f"latency_b{batch}_ms"], out[f"latency_b{batch}_p95_ms"] = lat["median_ms"], lat["p95_ms"]
    out["latency_threads"] = lat["threads"]
    stream = streaming_latency(model)
    out["stream_step_ms"] = None if stream is None else stream["median_ms"]
    out["stream_step_p95_ms"] = None if stream is None else stream["p95_ms"]
    return out


@torch.inference_mode()
def streaming_latency(model: ForecastModel, reps: int = 100) -> dict[str, float] | None:
    """Milliseconds to fold one new observation into a stateful backbone's state (batch 1); None if stateless."""
    net = model.net
    if model.is_forecaster or not net.capabilities().stateful:
        return None
    width = model.embed.in_features
    state = net.init_state(1)
    _, state = net(model.embed(torch.randn(1, model.spec.lookback, width)), state)  # (1, L, D) warm state
    step = torch.randn(1, 1, width)  # (1, 1, C)
    holder = {"state": state}

    def one_step() -> None:
        _, holder["state"] = net(model.embed(step), holder["state"])

    return timed(one_step, reps)


@torch.inference_mode()
def first_predictions(model: ForecastModel, task: Any) -> dict[str, Any]:
    """The target channel over the first test windows: step-1 forecasts, and window 0's whole horizon."""
    windows = task.windows["test"]
    count = min(PREDICTION_WINDOWS, len(windows))
    x, y, *future = windows.batch(torch.arange(count))  # (n, L, C), (n, H, C_out)[, (n, H, F)]
    tc = task.cfg.task
    out = model.eval()(x, *future)
    pred = dist.point(out, tc.distribution, tc.quantiles)  # (n, H, C_out)
    c = len(task.out_columns) - 1 if task.target not in task.out_columns else task.out_columns.index(task.target)
    bands = {}
    q = task.quantile_forecast(out[:1], x[:1])  # (1, H, C_out, Q) or None
    if q is not None:
        for level in dist.levels(tc.quantiles):
            lo, hi = (
                tc.quantiles.index(round((1 - level / 100) / 2, 6)),
                tc.quantiles.index(round(0.5 + level / 200, 6)),
            )
            bands[str(level)] = [q[0, :, c, lo].tolist(), q[0, :, c, hi].tolist()]
    return {
        "window0_bands": bands,  # central interval level -> [low, high] over the horizon (a fan chart)
        "channel": task.out_columns[c],
        "step1_pred": pred[:, 0, c].tolist(),
        "step1_true": y[:, 0, c].tolist(),
        "window0_pred": pred[0, :, c].tolist(),
        "window0_true": y[0, :, c].tolist(),
        "window0_context": x[0, :, task.in_columns.index(task.out_columns[c])].tolist(),
    }
