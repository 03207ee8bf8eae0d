"""The `seqarena` command: a thin typer layer over the Python API. User errors print one line and exit 2."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from seqarena.errors import SeqarenaError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, compare and ship sequence models on your own data.",
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@app.command()
def models() -> None:
    """Every registered model: family, kind, capabilities and parameters at the default size."""
    from rich.console import Console
    from rich.table import Table

    from seqarena.models.base import ForecastSpec, count_params
    from seqarena.registry import get_model, model_names

    table = Table(
        "model",
        "family",
        "kind",
        "causal",
        "bidirectional",
        "stateful",
        "streams",
        "time gaps",
        "params (default)",
        "tasks",
    )
    spec = ForecastSpec(lookback=96, horizon=96, channels=7, period=24)
    for name in model_names():
        cls = get_model(name)
        net = cls(cls.Config(), spec) if cls.kind == "forecaster" else cls(cls.Config())
        cap = net.capabilities()
        size = f"{count_params(net):,}" + (" (96->96, 7 ch)" if cls.kind == "forecaster" else "")
        yes = {True: "yes", False: "-"}
        table.add_row(
            name,
            cap.family,
            cap.kind,
            yes[cap.causal],
            yes[cap.bidirectional],
            yes[cap.stateful],
            yes[cap.streaming],
            yes[cap.time_aware],
            size,
            ",".join(cap.tasks),
        )
    Console(width=150).print(table)


@app.command()
def datasets() -> None:
    """Every registered dataset: task, source, defaults, licence, and whether it is available offline."""
    from rich.console import Console
    from rich.table import Table

    from seqarena.data.registry import DATASETS, status

    table = Table("dataset", "task", "size", "defaults", "period", "licence", "available", "description")
    for info in DATASETS.values():
        size = info.size or (f"{info.shape[0]:,} x {info.shape[1]}" if info.shape[0] else "configurable")
        lm = info.task == "lm"
        table.add_row(
            info.name,
            info.task,
            size,
            f"tokenizer {info.tokenizer}" if lm else f"{info.lookback}/{info.horizon}",
            "-" if lm else str(info.period),
            info.licence,
            status(info),
            info.description,
        )
    from seqarena.data.labelled import listing

    for name, size, licence, available, description in listing():
        table.add_row(name, "classify", size, "-", "-", licence, available, description)
    Console(width=160).print(table)


def _overrides(extra: list[str] | None = None, **options: str | None) -> list[str]:
    """--task/--data/--model/--tokenizer as --set assignments, before the explicit --set ones."""
    keys = {"task": "task.name", "data": "task.data", "model": "model.name", "tokenizer": "task.tokenizer"}
    return [f"{keys[k]}={v}" for k, v in options.items() if v] + list(extra or [])


def _default_out(raw: dict | Path, overrides: list[str], prefix: str = "") -> Path:
    from seqarena.run import resolve

    cfg = resolve(raw, overrides)
    return Path("runs") / f"{prefix}{cfg.model.name}-{Path(cfg.task.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="a YAML run config (optional)")] = None,
    task: Annotated[str | None, typer.Option(help="task name, e.g. forecast")] = None,
    data: Annotated[
        str | None, typer.Option(help="a registered dataset (see `seqarena datasets`) or a CSV path")
    ] = None,
    model: Annotated[str | None, typer.Option(help="a registered model (see `seqarena models`)")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="language models: char, byte, word or bpe")] = None,
    out: Annotated[Path | None, typer.Option(help="run directory (default runs/<model>-<data>-<time>)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override any field: --set train.lr=3e-3")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out from its last checkpoint")] = False,
) -> None:
    """Train one model on one task. With no arguments: an LSTM on the embedded co2 series (no download)."""
    from seqarena.run import train as run_train

    overrides = _overrides(task=task, data=data, model=model, tokenizer=tokenizer, extra=set_)
    raw: dict | Path = config if config is not None else {}
    if out is None:
        if resume:
            raise SeqarenaError("--resume needs --out: the run directory to continue")
        out = _default_out(raw, overrides)
    result = run_train(raw, out, overrides=overrides, resume=resume, log=_log)
    test = {k: v for k, v in _rounded(result.results["test"]).items() if not isinstance(v, (dict, list))}
    print(json.dumps({"run_dir": str(result.run_dir), "test": test}, indent=2))


@app.command()
def cv(
    config: Annotated[Path | None, typer.Argument(help="a YAML run config (optional)")] = None,
    data: Annotated[str | None, typer.Option(help="a classification dataset or table")] = None,
    model: Annotated[str | None, typer.Option(help="a registered model (see `seqarena models`)")] = None,
    folds: Annotated[int, typer.Option(help="number of stratified folds of the training cases")] = 5,
    ensemble: Annotated[
        bool, typer.Option(help="also report test for the average of the fold models (after choosing a recipe)")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="directory for the fold runs and cv.json")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override any field: --set train.lr=3e-3")] = None,
) -> None:
    """Cross-validate a classification recipe on its training cases (test untouched): mean validation metrics."""
    from seqarena.cv import cross_validate, ensemble_evaluate

    overrides = _overrides(task="classify" if config is None else None, data=data, model=model, extra=set_)
    raw: dict | Path = config if config is not None else {}
    out = out or _default_out(raw, overrides, prefix="cv-")
    result = cross_validate(raw, out, folds=folds, overrides=overrides, log=_log)
    summary = {k: {"mean": round(v["mean"], 4), "std": round(v["std"], 4)} for k, v in result.summary.items()}
    report: dict = {"out": str(result.out), "folds": folds, "val": summary}
    if ensemble:
        test = ensemble_evaluate(result.out)
        report["ensemble_test"] = {k: round(test[k], 4) for k in ("accuracy", "macro_f1", "loss")}
    print(json.dumps(report, indent=2))


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    split: Annotated[str, typer.Option(help="val or test")] = "test",
) -> None:
    """Evaluate a finished run on a split; prints the metrics as JSON."""
    from seqarena.run import evaluate as run_evaluate

    if split not in ("train", "val", "test"):
        raise SeqarenaError(f"--split must be train, val or test, not {split!r}")
    print(json.dumps({split: _rounded(run_evaluate(run_dir, split))}, indent=2))


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    input: Annotated[
        Path, typer.Option("--input", help="forecast: a CSV of >= task.lookback rows; classify: sequences to label")
    ],
    output: Annotated[Path, typer.Option("--output", help="where to write the predictions (CSV)")],
) -> None:
    """Forecasting runs: the horizon after the end of --input, in original units. Classification runs: a label
    and class probabilities for each sequence of --input (a table like the training data, a .ts file, or for
    character models a text file with one sequence per line)."""
    import pandas as pd

    from seqarena.run import load

    run = load(run_dir)
    if run.config.task.name == "classify":
        from seqarena.tasks.classify_predict import predict_file

        result = predict_file(run.model, run.artifacts, input)
        what = f"labels for {len(result)} sequences"
    elif run.config.task.name == "forecast":
        from seqarena.data.timeseries import read_csv
        from seqarena.tasks.forecast import predict_frame

        read_csv(input, run.config.task.time_column)  # the same checks as training data: path, emptiness, format
        frame = pd.read_csv(input)
        result = predict_frame(
            run.model, run.artifacts, frame, str(input), run.config.task.time_column, run.config.task.fill
        )
        what = f"{len(result)} forecast steps of {', '.join(run.artifacts['out_columns'])}"
    else:
        raise SeqarenaError(f"{run_dir} is a {run.config.task.name} run; predict is for forecasting and classification")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    with os.fdopen(fd, "w") as fh:
        result.to_csv(fh, index=False)
    os.replace(tmp, output)
    _log(f"wrote {what} to {output}")


@app.command()
def generate(
    run_dir: Annotated[Path, typer.Argument(help="a finished language-model run (--task lm)")],
    prompt: Annotated[str, typer.Option(help="text to continue (empty: start a new line)")] = "",
    max_new_tokens: Annotated[int, typer.Option(help="tokens to generate per sample")] = 200,
    temperature: Annotated[float, typer.Option(help="0 = greedy; higher = more random")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="sample among the k most likely tokens")] = None,
    top_p: Annotated[float | None, typer.Option(help="sample within the smallest set of this probability")] = None,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repeating tokens")] = 1.0,
    stop: Annotated[list[str] | None, typer.Option(help="end a sample at this text (repeatable)")] = None,
    num_samples: Annotated[int, typer.Option(help="samples generated as one batch")] = 1,
    seed: Annotated[int, typer.Option(help="random seed of the sampler")] = 0,
    cache: Annotated[bool, typer.Option(help="reuse the model state (KV cache); --no-cache recomputes")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print samples and metrics as JSON at the end")] = False,
) -> None:
    """Generate text, streamed to stdout as it is produced; a summary line (tokens/s) goes to stderr."""
    from seqarena.run import generate as run_generate

    echoed = False

    def show(piece: str) -> None:
        nonlocal echoed
        if not echoed:  # the prompt goes out with the first piece, once the prompt is known to encode
            sys.stdout.write(prompt)
            echoed = True
        sys.stdout.write(piece)
        sys.stdout.flush()

    streaming = num_samples == 1 and not as_json
    result = run_generate(
        run_dir,
        prompt,
        num_samples=num_samples,
        stop=stop,
        on_text=show if streaming else None,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        seed=seed,
        use_cache=cache,
    )
    if as_json:
        print(json.dumps(result, indent=2))
    elif streaming:
        print(prompt if not echoed else "")
    else:
        for i, text in enumerate(result["samples"]):
            print(f"--- sample {i + 1} ---\n{prompt}{text}")
    _log(
        f"{result['new_tokens']} tokens x {result['batch']} in {result['seconds']:.2f} s: "
        f"{result['tokens_per_s']:.1f} tokens/s, {result['words_per_s']:.1f} words/s "
        f"({result['threads']} threads, {'cache' if result['kv_cache'] else 'no cache'}); "
        f"repetition {result['repetition_rate']:.3f}, distinct-2 {result['distinct_2']:.3f}"
    )


@app.command()
def translate(
    run_dir: Annotated[Path, typer.Argument(help="a finished seq2seq run")],
    text: Annotated[str | None, typer.Argument(help="a sentence (default: one sentence per line on stdin)")] = None,
    beam: Annotated[int | None, typer.Option(help="beam width (1 = greedy; default: the run's task.beam)")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the first sentence's attention heatmap (SVG)")] = None,
) -> None:
    """Translate a sentence (or stdin, line by line) with a trained sequence-to-sequence model."""
    from seqarena.run import translate as run_translate

    texts = [text] if text is not None else [line.strip() for line in sys.stdin if line.strip()]
    result = run_translate(run_dir, texts, beam=beam, plot=plot)
    for line in result["outputs"]:
        print(line)
    _log(
        f"{len(texts)} sentence(s) in {result['seconds']:.3f} s ({result['sentences_per_s']:.1f}/s, "
        f"{result['threads']} threads, {result['decoding']})" + (f"; attention plot: {plot}" if plot else "")
    )


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
) -> None:
    """Train many models on the same data at an equal budget; report quality and cost side by side.
    With no arguments: rnn, lstm, gru, transformer and baselines on the embedded co2 and synthetic series."""
    import yaml

    from seqarena.arena.runner import DEFAULT_ARENA
    from seqarena.arena.runner import compare as run_compare
    from seqarena.arena.spec import parse
    from seqarena.config import load_yaml, set_dotted

    nothing_given = not any((config, task, data, models, budget, seeds, sweep, set_))
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
        parse(raw), out, executor_name=executor, address=address, url=store, retry_failed=retry_failed, log=_log
    )
    _print_results(out, store)
    print(f"report: {report}")


@app.command()
def results(
    arena_dir: Annotated[Path, typer.Argument(help="an arena directory")],
    store: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the results store")] = None,
) -> None:
    """The arena's leaderboard in the terminal."""
    _print_results(arena_dir, store)


@app.command()
def report(
    arena_dir: Annotated[Path, typer.Argument(help="an arena directory")],
    store: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the results store")] = None,
) -> None:
    """(Re)build report.html and report.md of an arena."""
    from seqarena.report.render import write_report

    print(write_report(arena_dir, store))


def _print_results(arena_dir: Path, store: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from seqarena.arena.runner import collect
    from seqarena.report.render import columns, summary, table_rows

    spec, points = collect(arena_dir, store)
    task = spec.task.get("name", "forecast")
    console = Console(width=200)
    for p in points:
        title = ", ".join(f"{k} = {v}" for k, v in p["point"].items()) or "leaderboard"
        table = Table(*columns(task), title=title)
        for row in table_rows(p["board"], task):
            table.add_row(*row)
        console.print(table)
        for line in summary(p["board"], task):
            console.print(f"  {line}")


def _rounded(metrics: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}


def main() -> None:
    try:
        app()
    except SeqarenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; a run can continue with --resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
