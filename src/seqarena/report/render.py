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
from seqarena.arena.stats import HIGHER_IS_BETTER, significance
from seqarena.report import plots

# per task: (header, leaderboard key, digits, with a confidence interval); "#", model and runs come first
_PARAMS = ("params", "params", 0, False)
_TRAIN = ("train s", "train_seconds", 1, False)
_TO_BEST = ("to best s", "time_to_best", 1, False)
_COST = [_PARAMS, _TRAIN, ("samples/s", "samples_per_s", 0, False), _TO_BEST]
_LATENCY = [("latency b1 ms", "latency_b1_ms", 3, False), ("latency b64 ms", "latency_b64_ms", 2, False)]
_CELLS = {
    "forecast": [
        ("test MSE", "test_mse", 4, True),
        ("test MAE", "test_mae", 4, True),
        *_COST,
        *_LATENCY,
        ("stream ms/step", "stream_step_ms", 3, False),
    ],
    "lm": [
        ("test ppl", "test_ppl", 3, True),
        ("test bpc", "test_bpc", 4, True),
        _PARAMS,
        _TRAIN,
        ("train tokens/s", "train_tokens_per_s", 0, False),
        _TO_BEST,
        ("gen tokens/s", "gen_tokens_per_s", 0, False),
        ("repetition", "repetition_rate", 3, False),
        ("distinct-2", "distinct_2", 3, False),
        ("copied 4-grams", "copy_rate", 3, False),
    ],
    "classify": [
        ("test accuracy", "test_accuracy", 4, True),
        ("test macro-F1", "test_macro_f1", 4, True),
        *_COST,
        *_LATENCY,
    ],
    "seq2seq": [
        ("test BLEU", "test_bleu", 2, True),
        ("test chrF", "test_chrf", 2, True),
        *_COST,
        ("translate b1 ms", "latency_b1_ms", 2, False),
    ],
}
QUALITY_NAME = {
    "forecast": ("test_mse", "test MSE"),
    "lm": ("test_ppl", "test perplexity"),
    "classify": ("test_error_rate", "test error rate"),
    "seq2seq": ("test_bleu", "test BLEU"),
}


def columns(task: str = "forecast") -> list[str]:
    return ["#", "model", "runs", *[c[0] for c in _CELLS.get(task, _CELLS["forecast"])], "size KB", "peak RSS MB"]


COLUMNS = columns("forecast")


def _fmt(value: Any, ci: Any = None, digits: int = 4) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    text = f"{value:,.{digits}f}" if digits else f"{value:,.0f}"
    if isinstance(ci, (int, float)) and math.isfinite(ci) and ci > 0:
        text += f" ± {ci:,.{digits}f}" if digits else f" ± {ci:,.0f}"
    return text


def table_rows(board: list[dict[str, Any]], task: str = "forecast") -> list[list[str]]:
    rows = []
    cells = _CELLS.get(task, _CELLS["forecast"])
    for i, b in enumerate((b for b in board if b.get("runs")), start=1):
        runs = f"{b['runs']}" + (f" ({b['failed']} failed)" if b.get("failed") else "")
        rows.append(
            [
                str(i),
                b["label"],
                runs,
                *[_fmt(b.get(key), b.get(f"{key}_ci") if ci else None, digits) for _, key, digits, ci in cells],
                _fmt((b.get("size_bytes") or 0) / 1024, digits=1),
                f"{_fmt(b.get('peak_rss_mb'), digits=0)} (+{_fmt(b.get('rss_over_idle_mb'), digits=0)})",
            ]
        )
    return rows


def summary(board: list[dict[str, Any]], task: str = "forecast") -> list[str]:
    """Plain-language winners on quality, speed, latency and size, with margins and significance."""
    key, name = QUALITY_NAME.get(task, QUALITY_NAME["forecast"])
    ok = [b for b in board if b.get("runs") and isinstance(b.get(key), float)]
    if not ok:
        return ["No run finished."]
    lines = []
    best = ok[0]
    if len(ok) > 1:
        second = ok[1]
        higher = key in HIGHER_IS_BETTER
        margin = 100 * abs(second[key] - best[key]) / max(abs(second[key]), 1e-12)
        p = significance(best[f"{key}_values"], second[f"{key}_values"])
        verdict = (
            "not testable for significance (that needs two or more seeds on each side)"
            if p is None
            else f"{'significant' if p < 0.05 else 'not significant'} across seeds (Welch p = {p:.3g})"
        )
        lines.append(
            f"Quality: {best['label']} has the {'highest' if higher else 'lowest'} {name} ({best[key]:.4f}), "
            f"{margin:.1f}% {'above' if higher else 'below'} "
            f"the runner-up {second['label']} ({second[key]:.4f}); the difference is {verdict}."
        )
    else:
        lines.append(f"Quality: {best['label']} is the only finished entrant ({name} {best[key]:.4f}).")
    if isinstance(best.get("copy_bleu"), float):
        lines.append(f"Baseline: copying the source sentence scores BLEU {best['copy_bleu']:.2f} on the same test "
                     f"pairs.")  # fmt: skip
    if isinstance(best.get("unigram_ppl"), float):
        lines.append(f"Baseline: a unigram model (training-split token frequencies) scores perplexity "
                     f"{best['unigram_ppl']:.2f} on the same test tokens.")  # fmt: skip
    if isinstance(best.get("majority_accuracy"), float):
        lines.append(f"Baseline: always predicting the most frequent training class scores accuracy "
                     f"{best['majority_accuracy']:.4f} on the same test cases.")  # fmt: skip
    trained = [b for b in ok if (b.get("train_seconds") or 0) > 0]
    if len(trained) > 1:
        fast = min(trained, key=lambda b: b["train_seconds"])
        slow = max(trained, key=lambda b: b["train_seconds"])
        ratio = slow["train_seconds"] / fast["train_seconds"]
        if ratio < 1.05:  # within timing noise: no winner to name
            lines.append(f"Training speed: all within 5% ({fast['train_seconds']:.1f}-{slow['train_seconds']:.1f} s).")
        else:
            lines.append(
                f"Training speed: {fast['label']} trains fastest ({fast['train_seconds']:.1f} s), "
                f"{ratio:.1f}x faster than {slow['label']} ({slow['train_seconds']:.1f} s)."
            )
    speeds = (
        ("latency_b1_ms", "Latency (batch 1)", "ms"),
        ("stream_step_ms", "Streaming", "ms/step"),
        ("gen_ms_per_token", "Generation (batch 1)", "ms/token"),
    )
    for k, what, unit in speeds:
        cands = [b for b in ok if isinstance(b.get(k), float) and (b.get("params") or 0) > 0]
        if cands:
            low = min(cands, key=lambda b: b[k])
            lines.append(f"{what}: {low['label']} is lowest among trained models ({low[k]:.3f} {unit}).")
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
    task = spec.task.get("name", "forecast")
    key, name = QUALITY_NAME.get(task, QUALITY_NAME["forecast"])
    rendered = []
    for p in points:
        board, entries = p["board"], p["entries"]
        figures = [
            plots.pareto(board, "train_seconds", "training time (s)", key),
            plots.pareto(board, "latency_b1_ms", "latency at batch 1 (ms)", key),
            plots.pareto(board, "gen_ms_per_token", "generation, batch 1 (ms/token)", key),
            plots.curves(entries),
            plots.predictions(entries),
            plots.cost_bars(board),
            plots.confusion(board, entries),
        ]
        failures = [
            f"{b['label']}: {b['failed']} run(s) failed: {b.get('error', '')}" for b in board if b.get("failed")
        ]
        rendered.append(
            {
                "name": _point_name(p["point"]),
                "summary": summary(board, task),
                "rows": table_rows(board, task),
                "failures": failures,
                "figures": [f for f in figures if f],
            }
        )
    sweeps = []
    for axis in spec.sweep:
        sweeps += [
            plots.sweep(points, axis, key, name),
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
        title=title, meta=meta, points=rendered, columns=columns(task), sweeps=sweeps
    )
    _atomic_write(arena_dir / "report.html", html)
    _atomic_write(arena_dir / "report.md", _markdown(title, meta, rendered, sweeps, arena_dir, columns(task)))
    return arena_dir / "report.html"


def _markdown(
    title: str, meta: str, points: list[dict[str, Any]], sweeps: list[str], arena_dir: Path, cols: list[str]
) -> str:
    files = arena_dir / "report_files"
    files.mkdir(exist_ok=True)
    out = [f"# seqarena report: {title}", "", meta, ""]
    for i, p in enumerate(points, start=1):
        out += [f"## {p['name']}", "", *[f"- {s}" for s in p["summary"]], ""]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
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
