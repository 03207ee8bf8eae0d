"""`seqarena advise`: a ranked shortlist of models for a task and its data, from explicit rules (advise/rules.py),
with the constraints that can be measured (latency, training memory) measured here rather than guessed.

    from seqarena.advise import advise, from_data
    advice = advise(from_data("forecast", "ETTh1", latency_ms=5))
    advice["shortlist"][0]["model"]

`verify` (advise/verify.py) races the shortlist; `track_record` (advise/track.py) scores the rules over the
built-in datasets.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from seqarena.advise.properties import Properties, check, from_data
from seqarena.advise.rules import fired, score
from seqarena.errors import ConfigError

__all__ = ["Properties", "advise", "candidates", "from_data"]

WIDTH, LAYERS, BATCH = 64, 2, 32  # the size and training batch the constraints are measured at
MEASURED = 2048  # the longest length measured directly
TIED = 1.0  # picks within this many points of the top one are tied under the rules


def candidates(props: Properties) -> tuple[list[str], list[dict[str, str]]]:
    """Trainable models the task can use (and that can stream, when asked), and why the others cannot."""
    from seqarena.registry import get_model, get_task, model_names

    task_cls = get_task(props.task)
    keep, out = [], []
    for name in model_names():
        cls = get_model(name)
        cfg = cls.Config(**task_cls.model_defaults(cls))
        cap = cls.capabilities_of(cfg)
        if not cap.trainable:
            continue  # the baselines join the race anyway
        why = task_cls.requires.why_not(name, cap)
        if why is None and props.streaming and not (cap.stateful and cap.causal):
            why = "it cannot stream (no carried state)"
        if why is None:
            keep.append(name)
        else:
            out.append({"model": name, "why": why})
    return keep, out


def _build(name: str, length: int, props: Properties, task_cls: Any) -> tuple[torch.nn.Module, torch.Tensor]:
    from seqarena.models.base import ForecastSpec
    from seqarena.registry import get_model

    cls = get_model(name)
    options = {**task_cls.model_defaults(cls)}
    fields = cls.Config.__dataclass_fields__
    options |= {k: v for k, v in (("d_model", WIDTH), ("num_layers", LAYERS)) if k in fields}
    cfg = cls.Config(**options)
    if cls.capabilities_of(cfg).kind == "forecaster":
        channels = props.channels or 1
        return cls(cfg, ForecastSpec(length, 24, channels)), torch.randn(1, length, channels)
    return cls(cfg), torch.randn(1, length, WIDTH)


def _at(name: str, length: int, props: Properties) -> dict[str, float]:
    from seqarena.profile import timed, training_step_mb
    from seqarena.registry import get_task

    model, x = _build(name, length, props, get_task(props.task))
    out: dict[str, float] = {}
    if props.latency_ms is not None:
        with torch.inference_mode():
            model.eval()
            out["latency_ms"] = timed(lambda: model(x), 5, warmup=1)["median_ms"]
    if props.memory_mb is not None:
        out["memory_mb"] = training_step_mb(model, x, BATCH)  # one case measured, the batch scaled
    return out


def measure(name: str, props: Properties) -> dict[str, float]:
    """Batch-1 latency (ms, one thread) and a training step's memory at batch 32 (MB) of the model at width 64, at
    the sequence length; beyond MEASURED steps, extrapolated from two measured lengths by their log-log slope."""
    length = props.seq_len or 96
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if length <= MEASURED:
            return _at(name, length, props)
        a, b = _at(name, MEASURED // 2, props), _at(name, MEASURED, props)
    finally:
        torch.set_num_threads(threads)
    grow = math.log(length / MEASURED) / math.log(2)  # doublings beyond the longest measured length
    return {k: b[k] * (b[k] / a[k]) ** grow if a[k] > 0 else b[k] for k in b}


def advise(props: Properties, top: int = 5) -> dict[str, Any]:
    """The shortlist (best first) with each pick's points and reasons, the models left out and why, and the rules
    that applied."""
    check(props)
    keep, excluded = candidates(props)
    if not keep:
        raise ConfigError(f"no model can serve task {props.task} with these requirements")
    from seqarena.registry import get_model

    picks = []
    for name in keep:
        cls = get_model(name)
        family = cls.capabilities_of(cls.Config()).family
        points, why = score(name, family, props)
        pick: dict[str, Any] = {"model": name, "family": family, "points": points, "reasons": why}
        if props.latency_ms is not None or props.memory_mb is not None:
            pick["measured"] = measure(name, props)
            over = _over_budget(pick["measured"], props)
            if over:
                excluded.append({"model": name, "why": over, "measured": pick["measured"]})
                continue
        picks.append(pick)
    if not picks:
        raise ConfigError(f"no model meets the constraints at sequence length {props.seq_len}: {_closest(excluded)}; "
                          f"relax --latency-ms or --memory-mb")  # fmt: skip
    picks.sort(key=lambda p: (-p["points"], p["model"]))
    best = picks[0]["points"]
    close = [p for p in picks if best - p["points"] < TIED]
    for rank, p in enumerate(picks, start=1):
        p["rank"], p["tied"] = rank, len(close) > 1 and p in close
    rules = [{"name": r.name, "reason": r.reason, "source": r.source} for r in fired(props)]
    return {"properties": props.as_dict(), "shortlist": picks[:top], "others": picks[top:], "excluded": excluded,
            "rules": rules}  # fmt: skip


def _closest(excluded: list[dict[str, Any]]) -> str:
    """The excluded model nearest to its budget, in words."""
    measured = [e for e in excluded if "measured" in e]
    key = "latency_ms" if "latency_ms" in measured[0]["measured"] else "memory_mb"
    best = min(measured, key=lambda e: e["measured"][key])
    return f"the {'fastest' if key == 'latency_ms' else 'smallest'}, {best['model']}, {best['why']}"


def _over_budget(measured: dict[str, float], props: Properties) -> str | None:
    if props.latency_ms is not None and measured["latency_ms"] > props.latency_ms:
        return f"takes {measured['latency_ms']:.3g} ms at batch 1 (budget {props.latency_ms:g} ms)"
    if props.memory_mb is not None and measured["memory_mb"] > props.memory_mb:
        return f"holds {measured['memory_mb']:.3g} MB in a training step (budget {props.memory_mb:g} MB)"
    return None
