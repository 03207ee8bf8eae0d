"""Arena plots as SVG text (matplotlib, Agg): quality vs cost, validation curves, cost bars, sweeps, and the
sections tasks ask for by name (SECTIONS: forecasts against the truth, a confusion matrix)."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.patches import Patch

from seqarena.report.figure import TRUTH, finite, legend_outside, plt, spread, svg


def _yerr(b: dict[str, Any], key: str) -> Any:
    s = spread(b, key)
    return None if s is None else [[s[0]], [s[1]]]


def pareto(
    board: list[dict[str, Any]],
    cost: str,
    cost_label: str,
    metric: str,
    higher: bool,
    colours: dict[str, str],
    metric_label: str | None = None,
) -> str | None:
    """Quality against one cost, a point per model in its colour with its spread both ways, and the Pareto front."""
    pts = [b for b in board if finite(b.get(cost)) and finite(b.get(metric))]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for b in pts:
        ax.errorbar(b[cost], b[metric], yerr=_yerr(b, metric), xerr=_yerr(b, cost), fmt="o", capsize=3, ms=6,
                    color=colours[b["label"]], label=b["label"])  # fmt: skip
    front, best, sign = [], math.inf, -1 if higher else 1
    for b in sorted(pts, key=lambda b: b[cost]):
        if sign * b[metric] < best:
            front.append(b)
            best = sign * b[metric]
    ax.step([b[cost] for b in front], [b[metric] for b in front], where="post", color="grey", lw=1, ls="--",
            label="Pareto front")  # fmt: skip
    positive = [b[cost] for b in pts if b[cost] > 0]
    if positive and max(positive) > 20 * min(positive):
        ax.set_xscale("symlog", linthresh=max(min(positive), 1e-3))
    ax.set_xlabel(cost_label)
    name = metric_label or metric.replace("_", " ")
    ax.set_ylabel(name + (" (higher is better)" if higher else " (lower is better)"))
    ax.set_title(f"quality vs {cost_label}")
    legend_outside(ax)
    return svg(fig)


def curves(entries: list[dict[str, Any]], colours: dict[str, str], loss_name: str = "loss") -> str | None:
    by_label: dict[str, list[list[float]]] = {}
    for e in entries:
        result = e["row"].get("result")
        if e["row"]["status"] == "ok" and result and result["curve"] and finite(result["curve"][0].get("val_loss")):
            by_label.setdefault(e["label"], []).append([c["val_loss"] for c in result["curve"]])
    if not by_label:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, runs in by_label.items():
        length = max(len(r) for r in runs)
        mean = [sum(r[i] for r in runs if i < len(r)) / sum(1 for r in runs if i < len(r)) for i in range(length)]
        lo = [min(r[i] for r in runs if i < len(r)) for i in range(length)]
        hi = [max(r[i] for r in runs if i < len(r)) for i in range(length)]
        xs = list(range(1, length + 1))
        ax.plot(xs, mean, marker=".", label=label, color=colours[label])
        ax.fill_between(xs, lo, hi, color=colours[label], alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation loss ({loss_name})")
    ax.set_title("validation curves (mean; band: min-max over seeds)")
    legend_outside(ax)
    return svg(fig)


def predictions(board: list[dict[str, Any]], entries: list[dict[str, Any]], colours: dict[str, str]) -> str | None:
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
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    a1.plot(any_pred["step1_true"], color=TRUTH, lw=2, label="truth")
    ctx = any_pred["window0_context"]
    a2.plot(range(len(ctx)), ctx, color="grey", lw=1, label="input window")
    horizon = range(len(ctx), len(ctx) + len(any_pred["window0_true"]))
    a2.plot(horizon, any_pred["window0_true"], color=TRUTH, lw=2, label="truth")
    for label, pred in firsts.items():
        a1.plot(pred["step1_pred"], lw=1, color=colours[label], label=label)
        a2.plot(horizon, pred["window0_pred"], lw=1, color=colours[label], label=label)
        bands = pred.get("window0_bands") or {}
        for i, level in enumerate(sorted(bands, key=int, reverse=True)[:2]):  # a fan: the widest two intervals
            lo, hi = bands[level]
            a2.fill_between(horizon, lo, hi, color=colours[label], alpha=0.10 + 0.08 * i, lw=0)
    if any(p.get("window0_bands") for p in firsts.values()):
        levels = sorted(next(p["window0_bands"] for p in firsts.values() if p.get("window0_bands")), key=int)
        a2.text(0.01, 0.02, f"shaded: {' and '.join(levels[-2:][::-1])}% intervals", transform=a2.transAxes,
                fontsize=8, color="grey")  # fmt: skip
    a1.set_title(f"one-step forecasts, first {len(any_pred['step1_true'])} test windows ({any_pred['channel']})")
    a2.set_title(f"first test window, whole horizon ({any_pred['channel']})")
    a1.set_ylabel("standardised value (training mean 0, std 1)")
    a1.set_xlabel("test window")
    a2.set_xlabel("time step")
    legend_outside(a2)
    return svg(fig)


def cost_bars(board: list[dict[str, Any]], colours: dict[str, str]) -> str | None:
    pts = [b for b in board if finite(b.get("train_seconds"))]
    if not pts:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.9 + 0.28 * len(pts)), sharey=True)
    panels = (
        ("train_seconds", "training time (s)"),
        ("rss_over_idle_mb", "peak memory above idle (MB RSS)"),
        ("latency_b1_ms", "latency, batch 1 (ms)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        vals = [b.get(key) if finite(b.get(key)) else 0.0 for b in pts]
        spreads = [spread(b, key) or (0.0, 0.0) for b in pts]
        err = [[s[0] for s in spreads], [s[1] for s in spreads]]
        ax.barh([b["label"] for b in pts], vals, xerr=err, capsize=2, color=[colours[b["label"]] for b in pts])
        ax.set_title(title)
        ax.set_xlim(left=0)
    axes[0].invert_yaxis()
    handles = [Patch(color=colours[b["label"]], label=b["label"]) for b in pts]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.99, 0.95), fontsize=7, frameon=False)
    return svg(fig)


def confusion(board: list[dict[str, Any]], entries: list[dict[str, Any]], colours: dict[str, str]) -> str | None:
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
    fig, ax = plt.subplots(figsize=(1.8 + 0.45 * max(k, 4), 1.0 + 0.45 * max(k, 4)))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, label="test cases", shrink=0.8)
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
    return svg(fig, kind="heatmap")


def sweep(points: list[dict[str, Any]], axis: str, metric: str, label: str, colours: dict[str, str]) -> str | None:
    fig = sweep_figure(points, axis, metric, label, colours)
    return None if fig is None else svg(fig)


def sweep_figure(points: list[dict[str, Any]], axis: str, metric: str, label: str, colours: dict[str, str]) -> Any:
    """A figure across the sweep. A numeric axis (a lookback, a learning rate) joins each model's points with a
    line; categories (data sets, options) get side-by-side points and no line, as they are not a continuum."""
    values = [p["point"].get(axis) for p in points]
    if len(values) < 2:
        return None
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = [n for n in colours if any(b["label"] == n and finite(b.get(metric)) for p in points for b in p["board"])]
    for i, name in enumerate(labels):
        found = [next((b for b in p["board"] if b["label"] == name and finite(b.get(metric))), None) for p in points]
        ys = [b[metric] if b else math.nan for b in found]
        errs = [spread(b, metric) if b else None for b in found]
        yerr = [[e[0] if e else 0.0 for e in errs], [e[1] if e else 0.0 for e in errs]]
        if numeric:
            ax.errorbar(values, ys, yerr=yerr, marker="o", capsize=3, color=colours[name], label=name)
        else:
            offset = (i - (len(labels) - 1) / 2) * 0.6 / max(len(labels), 1)
            xs = [j + offset for j in range(len(values))]
            ax.errorbar(xs, ys, yerr=yerr, fmt="o", capsize=3, color=colours[name], label=name)
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(axis)
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs {axis}")
    legend_outside(ax)
    return fig


def attention_heatmap(item: dict[str, Any]) -> str:
    """One translation's attention: output units (rows) over source units (columns)."""
    weights = item["weights"].detach().cpu().numpy()  # (T, S)
    src, out = item["source"], item["output"][: len(weights)]
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * len(src), 1.2 + 0.4 * len(out)))
    image = ax.imshow(weights[:, : len(src)], cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    ax.grid(False)
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right")
    ax.set_yticks(range(len(out)), out)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title("attention over the source at each output step")
    return svg(fig, kind="heatmap")


SECTIONS = {"predictions": predictions, "confusion": confusion}  # a task's report sections (tasks/base.py)
