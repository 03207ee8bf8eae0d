"""Commands on an arena: compare (run it and report), results (the leaderboard), report (rebuild the pages)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, log
from seqarena.errors import SeqarenaError


@app.command()
def compare(
    config: Annotated[Path | None, typer.Argument(help="an arena YAML (task, models, budget, seeds, sweep)")] = None,
    task: Annotated[str | None, typer.Option(help="task name, e.g. forecast")] = None,
    data: Annotated[str | None, typer.Option(help="a registered dataset or a CSV path")] = None,
    models: Annotated[
        str | None, typer.Option(help="comma-separated model names, e.g. rnn,lstm,gru,transformer")
    ] = None,
    budget: Annotated[list[str] | None, typer.Option(help="params=200k, epochs=10 or seconds=60 (repeatable)")] = None,
    seeds: Annotated[int | None, typer.Option(help="number of seeds per entrant")] = None,
    sweep: Annotated[
        list[str] | None, typer.Option(help="axis=v1,v2,... e.g. task.lookback=48,96 (repeatable)")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="task./train./eval. overrides for every run")] = None,
    out: Annotated[Path, typer.Option(help="arena directory")] = Path("arena/default"),
    executor: Annotated[str, typer.Option(help="local (process pool) or ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray instance)")] = None,
    workers: Annotated[int | None, typer.Option(help="parallel runs (default: one per core)")] = None,
    store: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the results store")] = None,
    retry_failed: Annotated[bool, typer.Option(help="run failed runs again")] = False,
    export: Annotated[
        bool, typer.Option(help="also export each run to ONNX and int8: latency, size, metric change (deploy extra)")
    ] = False,
    lengths: Annotated[
        str | None, typer.Option(help="also score every run at these sequence lengths, e.g. 512,1024,2048")
    ] = None,
    rank_by: Annotated[
        str | None, typer.Option(help="rank by this test metric, e.g. crps (default: the task's)")
    ] = None,
    backtest: Annotated[
        int | None, typer.Option(help="forecasting: rank by a backtest of this many windows (paired test across them)")
    ] = None,
) -> None:
    """Train many models on the same data at an equal budget; report quality and cost side by side.
    With no arguments: rnn, lstm, gru, transformer and baselines on the embedded co2 and synthetic series."""
    import yaml

    from seqarena.arena.runner import DEFAULT_ARENA
    from seqarena.arena.spec import parse
    from seqarena.comparison import compare as run_compare
    from seqarena.config import load_yaml, set_dotted

    nothing_given = not any((config, task, data, models, budget, seeds, sweep, set_, lengths, rank_by, backtest))
    raw = json.loads(json.dumps(DEFAULT_ARENA)) if nothing_given else (load_yaml(config) if config else {})
    raw.setdefault("task", {})
    if task:
        raw["task"]["name"] = task
    if data:
        raw["task"]["data"] = data
    if models:
        raw["models"] = models
    if seeds is not None:
        raw["seeds"] = seeds
    if workers is not None:
        raw["workers"] = workers
    if export:
        raw["export"] = True
    if lengths:
        raw["lengths"] = lengths
    if rank_by:
        raw["rank_by"] = rank_by
    if backtest is not None:
        raw["backtest"] = {**(raw.get("backtest") or {}), "windows": backtest}
    for item in budget or []:
        key, _, value = item.partition("=")
        raw.setdefault("budget", {})[key.strip()] = yaml.safe_load(value) if value else None
    for item in sweep or []:
        axis, _, values = item.partition("=")
        raw.setdefault("sweep", {})[axis.strip()] = [yaml.safe_load(v) for v in values.split(",") if v.strip()]
    for item in set_ or []:
        if item.split(".")[0] not in ("task", "train", "eval"):
            raise SeqarenaError(
                "compare --set takes task., train. or eval. keys; per-model options go in a config file"
            )
        set_dotted(raw, item)
    report = run_compare(
        parse(raw), out, executor_name=executor, address=address, url=store, retry_failed=retry_failed, log=log
    )
    _print_results(out, store)
    print(f"report: {report}")


@app.command()
def results(
    arena_dir: Annotated[Path, typer.Argument(help="an arena directory")],
    store: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the results store")] = None,
    format: Annotated[str, typer.Option("--format", help="table (for reading), json or csv (for programs)")] = "table",
    output: Annotated[str, typer.Option("--output", help="a file to write, or - for standard output")] = "-",
) -> None:
    """The arena's leaderboard: a table in the terminal, or the same rows as JSON or CSV (one row per entrant and
    sweep point, with each figure's spread)."""
    from seqarena.arena.results import records, to_csv
    from seqarena.errors import did_you_mean
    from seqarena.files import atomic_write_text, check_output_file, dumps

    formats = ("table", "json", "csv")
    if format not in formats:
        raise SeqarenaError(f"--format {format!r} is not one of {', '.join(formats)}{did_you_mean(format, formats)}")
    check_output_file(output)
    if format == "table":
        if output != "-":
            raise SeqarenaError("--format table prints to the terminal; write a file with --format json or csv")
        _print_results(arena_dir, store)
        return
    spec, points = _finished(arena_dir, store)
    board = records(spec, points)
    text = dumps(board, indent=2) + "\n" if format == "json" else to_csv(board)
    if output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)
        log(f"wrote the leaderboard ({len(board['rows'])} rows) to {output}")


@app.command()
def report(
    arena_dir: Annotated[Path, typer.Argument(help="an arena directory")],
    store: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the results store")] = None,
) -> None:
    """(Re)build report.html and report.md of an arena."""
    from seqarena.report.render import write_report

    print(write_report(arena_dir, store))


def _finished(arena_dir: Path, store: str | None) -> tuple:
    """The arena's spec and sweep points, or a one-line error when no run of its plans has finished."""
    from seqarena.arena.results import collect

    spec, points = collect(arena_dir, store)
    if not points:
        raise SeqarenaError(
            f"{arena_dir} has no finished run of its plans yet (a store written by another seqarena version keys "
            f"its runs differently); run `seqarena compare` on it"
        )
    return spec, points


def _print_results(arena_dir: Path, store: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from seqarena.arena.spec import board_columns, task_class
    from seqarena.report.render import columns, flagged, summary, table_rows

    spec, points = _finished(arena_dir, store)
    task_cls = task_class(spec)
    extra = board_columns(spec)[len(task_cls.columns) :]
    console = Console() if sys.stdout.isatty() else Console(width=260)
    for p in points:
        title = ", ".join(f"{k} = {v}" for k, v in p["point"].items()) or "leaderboard"
        table = Table(title=title)
        for header in columns(task_cls, extra):
            table.add_column(header, overflow="fold")
        for row in table_rows(p["board"], task_cls, extra):
            table.add_row(*[cell.replace(" (", "\n(").replace(" ± ", "\n± ") for cell in row])
        console.print(table)
        for line in summary(p["board"], task_cls) + flagged(p["entries"]):
            console.print(f"  {line}")
