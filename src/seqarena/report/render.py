"""report.html (self-contained: inline SVG, no network) and report.md (+ report_files/*.svg) for an arena."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import jinja2

from seqarena.arena.runner import collect
from seqarena.arena.stats import significance
from seqarena.report import plots

COLUMNS = [
    "#",
    "model",
    "runs",
    "test MSE",
    "test MAE",
    "params",
    "train s",
    "samples/s",
    "to best s",
    "latency b1 ms",
    "latency b64 ms",
    "stream ms/step",
    "size KB",
    "peak RSS MB",
]


def _fmt(value: Any, ci: Any = None, digits: int = 4) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    text = f"{value:,.{digits}f}" if digits else f"{value:,.0f}"
    if isinstance(ci, (int, float)) and math.isfinite(ci) and ci > 0:
        text += f" ± {ci:,.{digits}f}" if digits else f" ± {ci:,.0f}"
    return text


def table_rows(board: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for i, b in enumerate((b for b in board if b.get("runs")), start=1):
        runs = f"{b['runs']}" + (f" ({b['failed']} failed)" if b.get("failed") else "")
        rows.append(
            [
                str(i),
                b["label"],
                runs,
                _fmt(b.get("test_mse"), b.get("test_mse_ci")),
                _fmt(b.get("test_mae"), b.get("test_mae_ci")),
                _fmt(b.get("params"), digits=0),
                _fmt(b.get("train_seconds"), digits=1),
                _fmt(b.get("samples_per_s"), digits=0),
                _fmt(b.get("time_to_best"), digits=1),
                _fmt(b.get("latency_b1_ms"), digits=3),
                _fmt(b.get("latency_b64_ms"), digits=2),
                _fmt(b.get("stream_step_ms"), digits=3),
                _fmt((b.get("size_bytes") or 0) / 1024, digits=1),
                f"{_fmt(b.get('peak_rss_mb'), digits=0)} (+{_fmt(b.get('rss_over_idle_mb'), digits=0)})",
            ]
        )
    return rows


def summary(board: list[dict[str, Any]]) -> list[str]:
    """Plain-language winners on quality, speed, latency and size, with margins and significance."""
    ok = [b for b in board if b.get("runs") and isinstance(b.get("test_mse"), float)]
    if not ok:
        return ["No run finished."]
    lines = []
    best = ok[0]
    if len(ok) > 1:
        second = ok[1]
        margin = 100 * (second["test_mse"] - best["test_mse"]) / max(second["test_mse"], 1e-12)
        p = significance(best["test_mse_values"], second["test_mse_values"])
        verdict = (
            "not testable for significance (that needs two or more seeds on each side)"
            if p is None
            else f"{'significant' if p < 0.05 else 'not significant'} across seeds (Welch p = {p:.3g})"
        )
        lines.append(
            f"Quality: {best['label']} has the lowest test MSE ({best['test_mse']:.4f}), {margin:.1f}% below "
            f"the runner-up {second['label']} ({second['test_mse']:.4f}); the difference is {verdict}."
        )
    else:
        lines.append(f"Quality: {best['label']} is the only finished entrant (test MSE {best['test_mse']:.4f}).")
    trained = [b for b in ok if (b.get("train_seconds") or 0) > 0]
    if len(trained) > 1:
        fast = min(trained, key=lambda b: b["train_seconds"])
        slow = max(trained, key=lambda b: b["train_seconds"])
        lines.append(
            f"Training speed: {fast['label']} trains fastest ({fast['train_seconds']:.1f} s), "
            f"{slow['train_seconds'] / fast['train_seconds']:.1f}x faster than {slow['label']} "
            f"({slow['train_seconds']:.1f} s)."
        )
    for key, name, unit in (("latency_b1_ms", "Latency (batch 1)", "ms"), ("stream_step_ms", "Streaming", "ms/step")):
        cands = [b for b in ok if isinstance(b.get(key), float) and (b.get("params") or 0) > 0]
        if cands:
            low = min(cands, key=lambda b: b[key])
            lines.append(f"{name}: {low['label']} is lowest among trained models ({low[key]:.3f} {unit}).")
    sized = [b for b in ok if (b.get("params") or 0) > 0]
    if sized:
        small = min(sized, key=lambda b: b["params"])
        lines.append(f"Size: {small['label']} is smallest ({small['params']:,.0f} parameters).")
    baseline = next((b for b in ok if b["label"] in ("last_value", "seasonal_naive")), None)
    if baseline is not None and baseline is best:
        lines.append("Warning: a parameter-free baseline wins; the trained models need more budget or data.")
    return lines


def _point_name(point: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in point.items()) or "results"


def write_report(arena_dir: Path, url: str | None = None) -> Path:
    spec, points = collect(arena_dir, url)
    rendered = []
    for p in points:
        board, entries = p["board"], p["entries"]
        figures = [
            plots.pareto(board, "train_seconds", "training time (s)"),
            plots.pareto(board, "latency_b1_ms", "latency at batch 1 (ms)"),
            plots.curves(entries),
            plots.predictions(entries),
            plots.cost_bars(board),
        ]
        failures = [
            f"{b['label']}: {b['failed']} run(s) failed: {b.get('error', '')}" for b in board if b.get("failed")
        ]
        rendered.append(
            {
                "name": _point_name(p["point"]),
                "summary": summary(board),
                "rows": table_rows(board),
                "failures": failures,
                "figures": [f for f in figures if f],
            }
        )
    sweeps = []
    for axis in spec.sweep:
        sweeps += [
            plots.sweep(points, axis, "test_mse", "test MSE"),
            plots.sweep(points, axis, "train_seconds", "training time (s)"),
        ]
    sweeps = [s for s in sweeps if s]
    title = f"{spec.task.get('name', 'forecast')} on {spec.task.get('data', '')}".strip()
    meta = (
        f"{sum(len(p['entries']) for p in points)} runs; seeds {spec.seeds}; budget {json.dumps(spec.budget)}; "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}; each run's thread count is in "
        f"its row of results.db"
    )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("seqarena.report", "templates"), autoescape=jinja2.select_autoescape(["html", "j2"])
    )
    html = env.get_template("report.html.j2").render(
        title=title, meta=meta, points=rendered, columns=COLUMNS, sweeps=sweeps
    )
    _atomic_write(arena_dir / "report.html", html)
    _atomic_write(arena_dir / "report.md", _markdown(title, meta, rendered, sweeps, arena_dir))
    return arena_dir / "report.html"


def _markdown(title: str, meta: str, points: list[dict[str, Any]], sweeps: list[str], arena_dir: Path) -> str:
    files = arena_dir / "report_files"
    files.mkdir(exist_ok=True)
    out = [f"# seqarena report: {title}", "", meta, ""]
    for i, p in enumerate(points, start=1):
        out += [f"## {p['name']}", "", *[f"- {s}" for s in p["summary"]], ""]
        out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(r) + " |" for r in p["rows"]] + [""]
        out += [f"- {f}" for f in p["failures"]]
        for j, fig in enumerate(p["figures"], start=1):
            (files / f"point{i}-fig{j}.svg").write_text(fig, encoding="utf-8")
            out.append(f"![figure {j}](report_files/point{i}-fig{j}.svg)")
        out.append("")
    for j, fig in enumerate(sweeps, start=1):
        (files / f"sweep-{j}.svg").write_text(fig, encoding="utf-8")
        out.append(f"![sweep {j}](report_files/sweep-{j}.svg)")
    return "\n".join(out) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
