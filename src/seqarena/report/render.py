"""report.html (self-contained: inline SVG, no network) and report.md (+ report_files/*.svg) for an arena."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import jinja2

from seqarena.arena import tuning
from seqarena.arena.results import collect, write_leaderboards
from seqarena.arena.spec import board_columns, task_class
from seqarena.arena.stats import paired_significance, rank_key, significance
from seqarena.config import coerce
from seqarena.errors import ConfigError
from seqarena.files import atomic_write_text
from seqarena.report import plots
from seqarena.report.figure import palette


def columns(task_cls: Any, extra: tuple[Any, ...] = ()) -> list[str]:
    return ["#", "model", "runs", *[c.header for c in (*task_cls.columns, *extra)], "size KB", "peak RSS MB"]


def _number(value: Any, digits: int) -> str:
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def _fmt(value: Any, line: dict[str, Any] | None = None, key: str = "", digits: int = 4) -> str:
    """A mean, with its spread when `line` is given: "m ± h" for a 95% interval, "m (lo-hi)" for a range (two
    seeds) or an interval clipped at zero."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    text = _number(value, digits)
    if line is None:
        return text
    lo, hi, ci = line.get(f"{key}_lo"), line.get(f"{key}_hi"), line.get(f"{key}_ci")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lo, hi)) or hi <= lo:
        return text
    if line.get("interval") == "95% CI" and abs((value - lo) - ci) <= 1e-12 * max(abs(value), 1.0):
        return f"{text} ± {_number(ci, digits)}"
    return f"{text} ({_number(lo, digits)}–{_number(hi, digits)})"


def spread_note(seeds: int) -> str:
    """What the figures after a mean mean."""
    if seeds < 2:
        return "Each figure is one run (one seed), so no spread is shown; give the arena more seeds for intervals."
    if seeds == 2:
        return ("Each figure is the mean over 2 seeds; the brackets (a–b) give the lowest and highest of the two, "
                "as a 95% interval from two values would be too wide to say anything.")  # fmt: skip
    return (
        f"Each figure is the mean over {seeds} seeds; ± gives the half-width of its 95% confidence interval "
        f"(Student t), and brackets (0–b) an interval clipped at zero for a quantity that cannot be negative."
    )


def _budget_words(budget: dict[str, Any]) -> str:
    words = {"params": "{:,} parameters", "epochs": "{} epochs", "seconds": "{:g} s of training"}
    parts = []
    for key, value in budget.items():
        if key == "tune" and isinstance(value, dict):
            parts.append(f"tuned first with {value['trials']} trials each")
            continue
        try:
            number = coerce(value, float if key == "seconds" else int, f"budget.{key}")
            parts.append(words[key].format(number))
        except (KeyError, ConfigError):
            parts.append(f"{key} {value}")
    return ", ".join(parts) or "each model's defaults"


def table_rows(board: list[dict[str, Any]], task_cls: Any, extra: tuple[Any, ...] = ()) -> list[list[str]]:
    rows = []
    for i, b in enumerate((b for b in board if b.get("runs")), start=1):
        runs = f"{b['runs']}" + (f" ({b['failed']} failed)" if b.get("failed") else "")
        rows.append(
            [
                str(i),
                b["label"],
                runs,
                *[_fmt(b.get(c.key), b if c.ci else None, c.key, c.digits) for c in (*task_cls.columns, *extra)],
                _fmt((b.get("size_bytes") or 0) / 1024, digits=1),
                f"{_fmt(b.get('peak_rss_mb'), digits=0)} (+{_fmt(b.get('rss_over_idle_mb'), digits=0)})",
            ]
        )
    return rows


def summary(board: list[dict[str, Any]], task_cls: Any) -> list[str]:
    """Plain-language winners on quality, speed, latency and size, with margins and significance."""
    key, name, higher = rank_key(task_cls), task_cls.metric.name, task_cls.metric.higher_is_better
    if key.startswith("backtest_"):
        name = name.replace("test ", "backtest ")
    ok = [b for b in board if b.get("runs") and isinstance(b.get(key), float)]
    if not ok:
        return ["No run finished."]
    lines = []
    best = ok[0]
    if len(ok) > 1:
        second = ok[1]
        margin = 100 * abs(second[key] - best[key]) / max(abs(second[key]), 1e-12)
        paired = paired_significance(best.get("window_values") or [], second.get("window_values") or [])
        p = significance(best[f"{key}_values"], second[f"{key}_values"])
        if paired is not None:
            n = len(best["window_values"])
            verdict = (f"{'significant' if paired < 0.05 else 'not significant'} across the {n} backtest windows "
                       f"(paired t-test p = {paired:.3g})")  # fmt: skip
        elif p is None:
            verdict = "not testable for significance (that needs two or more seeds on each side)"
        else:
            verdict = f"{'significant' if p < 0.05 else 'not significant'} across seeds (Welch p = {p:.3g})"
        lines.append(
            f"Quality: {best['label']} has the {'highest' if higher else 'lowest'} {name} ({best[key]:.4f}), "
            f"{margin:.1f}% {'above' if higher else 'below'} "
            f"the runner-up {second['label']} ({second[key]:.4f}); the difference is {verdict}."
        )
    else:
        lines.append(f"Quality: {best['label']} is the only finished entrant ({name} {best[key]:.4f}).")
    for ref, sentence in task_cls.references.items():
        if isinstance(best.get(ref), float):
            lines.append("Baseline: " + sentence.format(value=best[ref]))
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
    if (best.get("params") or 0) == 0:
        lines.append("Warning: a parameter-free baseline wins; the trained models need more budget or data.")
    return lines


def flagged(entries: list[dict[str, Any]]) -> list[str]:
    """A warning line per run that scored far worse than the task's trivial baseline."""
    lines = []
    for e in entries:
        for warning in ((e["row"].get("result") or {}).get("warnings") or [])[:1]:
            lines.append(f"Warning: {e['label']} (seed {e['seed']}): {warning}.")
    return lines


def _point_name(point: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in point.items()) or "results"


def _settings(points: list[dict[str, Any]], spec: Any) -> dict[str, Any]:
    """The task settings a finished run resolved to (lookback, horizon, ...), else the arena's task section."""
    for p in points:
        for e in p["entries"]:
            settings = (e["row"].get("result") or {}).get("task_settings")
            if settings:
                return settings
    return dict(spec.task)


def write_report(arena_dir: Path, url: str | None = None) -> Path:
    """report.html, report.md and the leaderboards as data (leaderboard.json, leaderboard.csv)."""
    spec, points = collect(arena_dir, url)
    write_leaderboards(arena_dir, spec, points)
    task_cls = task_class(spec)
    key, name, higher = rank_key(task_cls), task_cls.metric.name, task_cls.metric.higher_is_better
    if key.startswith("backtest_"):
        name = name.replace("test ", "backtest ")
    extra = board_columns(spec)[len(task_cls.columns) :]  # the deployable cost, when the arena exports
    colours = palette([b["label"] for p in points for b in p["board"]])  # one colour per model, every figure
    rendered = []
    for p in points:
        board, entries = p["board"], p["entries"]
        figures = [
            plots.pareto(board, "train_seconds", "training time (s)", key, higher, colours, name),
            plots.pareto(board, "latency_b1_ms", "latency at batch 1 (ms)", key, higher, colours, name),
            plots.pareto(board, "gen_ms_per_token", "generation, batch 1 (ms/token)", key, higher, colours, name),
            plots.curves(entries, colours, task_cls.loss_name),
            *[plots.SECTIONS[section](board, entries, colours) for section in task_cls.sections],
            plots.cost_bars(board, colours),
        ]
        failures = [
            f"{b['label']}: {b['failed']} run(s) failed: {b.get('error', '')}" for b in board if b.get("failed")
        ]
        rendered.append(
            {
                "name": _point_name(p["point"]),
                "summary": summary(board, task_cls)
                + flagged(entries)
                + tuning.lines(entries, spec.budget.get("tune") or {}),
                "rows": table_rows(board, task_cls, extra),
                "failures": failures,
                "figures": [f for f in figures if f],
            }
        )
    sweeps = []
    for axis in spec.sweep:
        sweeps += [
            plots.sweep(points, axis, key, name, colours),
            plots.sweep(points, axis, "train_seconds", "training time (s)", colours),
        ]
    sweeps = [s for s in sweeps if s]
    title = f"{task_cls.name} on {spec.task.get('data') or task_cls.Config().data}"
    models = len({b["label"] for p in points for b in p["board"]})
    meta = (
        f"{sum(len(p['entries']) for p in points)} runs of {models} models, seeds {', '.join(map(str, spec.seeds))}; "
        f"budget: {_budget_words(spec.budget)} per run; {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}; each run's thread count is in results.db."
    )
    notes = [*task_cls.explain(_settings(points, spec)), spread_note(len(spec.seeds)),
             f"Ranked on {name} ({'higher' if higher else 'lower'} is better); click a column to sort."]  # fmt: skip
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("seqarena.report", "templates"), autoescape=jinja2.select_autoescape(["html", "j2"])
    )
    cols = columns(task_cls, extra)
    html = env.get_template("report.html.j2").render(
        title=title, meta=meta, notes=notes, points=rendered, columns=cols, sweeps=sweeps
    )
    atomic_write_text(arena_dir / "report.html", html)
    atomic_write_text(arena_dir / "report.md", _markdown(title, meta, notes, rendered, sweeps, arena_dir, cols))
    return arena_dir / "report.html"


def _markdown(
    title: str,
    meta: str,
    notes: list[str],
    points: list[dict[str, Any]],
    sweeps: list[str],
    arena_dir: Path,
    cols: list[str],
) -> str:
    files = arena_dir / "report_files"
    files.mkdir(exist_ok=True)
    out = [f"# seqarena report: {title}", "", meta, "", *[f"- {n}" for n in notes], ""]
    for i, p in enumerate(points, start=1):
        out += [f"## {p['name']}", "", *[f"- {s}" for s in p["summary"]], ""]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(r) + " |" for r in p["rows"]] + [""]
        out += [f"- {f}" for f in p["failures"]]
        for j, fig in enumerate(p["figures"], start=1):
            atomic_write_text(files / f"point{i}-fig{j}.svg", fig)
            out.append(f"![figure {j}](report_files/point{i}-fig{j}.svg)")
        out.append("")
    for j, fig in enumerate(sweeps, start=1):
        atomic_write_text(files / f"sweep-{j}.svg", fig)
        out.append(f"![sweep {j}](report_files/sweep-{j}.svg)")
    return "\n".join(out) + "\n"
