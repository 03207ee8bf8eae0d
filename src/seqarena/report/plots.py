"""Arena plots as SVG text (matplotlib, Agg): quality vs cost, validation curves, cost bars, sweeps, and the
sections tasks ask for by name (SECTIONS: forecasts against the truth, a confusion matrix)."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
_COUNTER = [0]


def _svg(fig: Any) -> str:
    _COUNTER[0] += 1
    plt.rcParams["svg.hashsalt"] = f"seqarena-{_COUNTER[0]}"  # distinct element ids for figures on one page
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # RDF namespaces and a timestamp
    return text[text.index("<svg") :]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def pareto(
    board: list[dict[str, Any]], cost: str, cost_label: str, metric: str = "test_mse", higher: bool = False
) -> str | None:
    pts = [b for b in board if _finite(b.get(cost)) and _finite(b.get(metric))]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for b in pts:
        err = b.get(f"{metric}_ci")
        ax.errorbar(b[cost], b[metric], yerr=err if _finite(err) else None, fmt="o", capsize=3)
        ax.annotate(b["label"], (b[cost], b[metric]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front, best, sign = [], math.inf, -1 if higher else 1
    for b in sorted(pts, key=lambda b: b[cost]):
        if sign * b[metric] < best:
            front.append(b)
            best = sign * b[metric]
    ax.step([b[cost] for b in front], [b[metric] for b in front], where="post", color="grey", lw=1, ls="--")
    if max(b[cost] for b in pts) > 20 * max(min(b[cost] for b in pts), 1e-9):
        ax.set_xscale(
            "symlog",
            linthresh=max(min(b[cost] for b in pts if b[cost] > 0) if any(b[cost] > 0 for b in pts) else 1.0, 1e-3),
        )
    ax.set_xlabel(cost_label)
    ax.set_ylabel(metric.replace("_", " ") + (" (higher is better)" if higher else " (lower is better)"))
    ax.set_title(f"quality vs {cost_label} (dashed: Pareto front)")
    return _svg(fig)


def curves(entries: list[dict[str, Any]], loss_name: str = "loss") -> str | None:
    by_label: dict[str, list[list[float]]] = {}
    for e in entries:
        result = e["row"].get("result")
        if e["row"]["status"] == "ok" and result and result["curve"] and _finite(result["curve"][0].get("val_loss")):
            by_label.setdefault(e["label"], []).append([c["val_loss"] for c in result["curve"]])
    if not by_label:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for label, runs in by_label.items():
        length = max(len(r) for r in runs)
        mean = [sum(r[i] for r in runs if i < len(r)) / sum(1 for r in runs if i < len(r)) for i in range(length)]
        lo = [min(r[i] for r in runs if i < len(r)) for i in range(length)]
        hi = [max(r[i] for r in runs if i < len(r)) for i in range(length)]
        xs = list(range(1, length + 1))
        (line,) = ax.plot(xs, mean, marker=".", label=label)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation loss ({loss_name})")
    ax.set_title("validation curves (mean; band: min-max over seeds)")
    ax.legend(fontsize=7)
    return _svg(fig)


def predictions(board: list[dict[str, Any]], entries: list[dict[str, Any]]) -> str | None:
    """Forecasting: one-step forecasts over the first test windows, and the first window's whole horizon."""
    firsts: dict[str, dict[str, Any]] = {}
    for e in sorted(entries, key=lambda e: e["seed"]):
        result = e["row"].get("result") or {}
        pred = (result.get("extras") or {}).get("predictions") or result.get("predictions")  # older rows: top level
        if e["row"]["status"] == "ok" and e["label"] not in firsts and pred:
            firsts[e["label"]] = pred
    if not firsts:
        return None
    any_pred = next(iter(firsts.values()))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    a1.plot(any_pred["step1_true"], color="black", lw=2, label="truth")
    ctx = any_pred["window0_context"]
    a2.plot(range(len(ctx)), ctx, color="grey", lw=1, label="input window")
    horizon = range(len(ctx), len(ctx) + len(any_pred["window0_true"]))
    a2.plot(horizon, any_pred["window0_true"], color="black", lw=2, label="truth")
    for label, pred in firsts.items():
        a1.plot(pred["step1_pred"], lw=1, label=label)
        a2.plot(horizon, pred["window0_pred"], lw=1, label=label)
    a1.set_title(f"one-step forecasts, first {len(any_pred['step1_true'])} test windows ({any_pred['channel']})")
    a2.set_title(f"first test window, whole horizon ({any_pred['channel']})")
    for ax in (a1, a2):
        ax.set_ylabel("scaled value")
    a1.set_xlabel("test window")
    a2.set_xlabel("time step")
    a2.legend(fontsize=7, ncol=2)
    return _svg(fig)


def cost_bars(board: list[dict[str, Any]]) -> str | None:
    pts = [b for b in board if _finite(b.get("train_seconds"))]
    if not pts:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    panels = (
        ("train_seconds", "training time (s)"),
        ("rss_over_idle_mb", "peak memory above idle (MB RSS)"),
        ("latency_b1_ms", "latency, batch 1 (ms)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        vals = [b.get(key) if _finite(b.get(key)) else 0.0 for b in pts]
        errs = [b.get(f"{key}_ci") if _finite(b.get(f"{key}_ci")) else 0.0 for b in pts]
        ax.barh([b["label"] for b in pts], vals, xerr=errs, capsize=2)
        ax.set_title(title)
    axes[0].invert_yaxis()
    return _svg(fig)


def confusion(board: list[dict[str, Any]], entries: list[dict[str, Any]]) -> str | None:
    """Classification: the test confusion matrix of the leader's first seed (rows: true class)."""
    ranked = [b["label"] for b in board if b.get("runs")]
    run = next(
        (e["row"]["result"] for e in entries if ranked and e["label"] == ranked[0] and e["row"]["status"] == "ok"),
        None,
    )
    test = (run or {}).get("metrics", {}).get("test", {})
    if "confusion" not in test:
        return None
    matrix, classes = test["confusion"], test["classes"]
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * max(k, 4), 1.0 + 0.45 * max(k, 4)))
    ax.imshow(matrix, cmap="Blues")
    ax.grid(False)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    if k <= 20:
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, n in enumerate(row):
                ax.text(j, i, str(n), ha="center", va="center", fontsize=6, color="white" if n > peak / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"test confusion matrix: {ranked[0]}")
    return _svg(fig)


def sweep(points: list[dict[str, Any]], axis: str, metric: str, label: str) -> str | None:
    values = [p["point"].get(axis) for p in points]
    if len(values) < 2:
        return None
    numeric = all(isinstance(v, (int, float)) for v in values)
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    labels = sorted({b["label"] for p in points for b in p["board"] if _finite(b.get(metric))})
    xs = values if numeric else list(range(len(values)))
    for name in labels:
        ys = [
            next((b[metric] for b in p["board"] if b["label"] == name and _finite(b.get(metric))), math.nan)
            for p in points
        ]
        ax.plot(xs, ys, marker="o", label=name)
    if not numeric:
        ax.set_xticks(xs, [str(v) for v in values])
    ax.set_xlabel(axis)
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs {axis}")
    ax.legend(fontsize=7)
    return _svg(fig)


def attention_heatmap(item: dict[str, Any]) -> str:
    """One translation's attention: output units (rows) over source units (columns)."""
    weights = item["weights"].detach().cpu().numpy()  # (T, S)
    src, out = item["source"], item["output"][: len(weights)]
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(src), 1.2 + 0.4 * len(out)))
    ax.imshow(weights[:, : len(src)], cmap="viridis", vmin=0.0, vmax=1.0)
    ax.grid(False)
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right")
    ax.set_yticks(range(len(out)), out)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title("attention over the source at each output step")
    return _svg(fig)


SECTIONS = {"predictions": predictions, "confusion": confusion}  # a task's report sections (tasks/base.py)
