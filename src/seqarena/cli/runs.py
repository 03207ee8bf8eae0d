"""Commands on one run: train, cv, evaluate, backtest, predict, generate, translate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, default_out, log, overrides, rounded
from seqarena.errors import SeqarenaError
from seqarena.files import dumps


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
    allow_change: Annotated[
        list[str] | None, typer.Option(help="with --resume: a setting that may differ, e.g. train.lr (repeatable)")
    ] = None,
    nproc: Annotated[
        int, typer.Option(help="data-parallel processes on this machine (torchrun; gloo on CPU, NCCL on CUDA)")
    ] = 1,
) -> None:
    """Train one model on one task. With no arguments: an LSTM on the embedded co2 series (no download)."""
    from seqarena.run import train as run_train

    assignments = overrides(task=task, data=data, model=model, tokenizer=tokenizer, extra=set_)
    raw: dict | Path = config if config is not None else {}
    if out is None:
        if resume:
            raise SeqarenaError("--resume needs --out: the run directory to continue")
        out = default_out(raw, assignments)
    if allow_change and not resume:
        raise SeqarenaError("--allow-change applies to --resume")
    if nproc != 1:
        raise typer.Exit(_torchrun(nproc, config, out, assignments, resume, allow_change or []))
    result = run_train(raw, out, overrides=assignments, resume=resume, allow_change=allow_change, log=log)
    if not result.results:  # a torchrun rank other than 0: rank 0 reports
        return
    test = {k: v for k, v in rounded(result.results["test"]).items() if not isinstance(v, (dict, list))}
    print(dumps({"run_dir": str(result.run_dir), "test": test}, indent=2))


def _torchrun(nproc: int, config: Path | None, out: Path, sets: list[str], resume: bool, allow: list[str]) -> int:
    """`seqarena train --nproc N`: the same command under torchrun on this machine; its exit status."""
    import subprocess

    from seqarena.config import parse
    from seqarena.registry import get_task
    from seqarena.run import check_out

    if nproc < 1:
        raise SeqarenaError(f"--nproc {nproc}: give the number of processes, at least 1")
    cfg = parse(config if config is not None else {}, sets)  # bad options or data: one line here, before torchrun
    check_out(out, resume)
    get_task(cfg.task.name)(cfg)
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m",
            "seqarena", "train", *([str(config)] if config else []), "--out", str(out)]  # fmt: skip
    args += [f"--set={a}" for a in sets] + (["--resume"] if resume else []) + [f"--allow-change={k}" for k in allow]
    log(f"torchrun: {nproc} processes, rank 0 writes {out}")
    return subprocess.run(args, check=False).returncode


@app.command()
def cv(
    config: Annotated[Path | None, typer.Argument(help="a YAML run config (optional)")] = None,
    task: Annotated[str | None, typer.Option(help="a task with folds (default without a config: classify)")] = None,
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
    from seqarena.cv import cross_validate, default_task, ensemble_evaluate
    from seqarena.registry import get_task

    if config is None and task is None:
        task = default_task()
    assignments = overrides(task=task, data=data, model=model, extra=set_)
    raw: dict | Path = config if config is not None else {}
    out = out or default_out(raw, assignments, prefix="cv-")
    result = cross_validate(raw, out, folds=folds, overrides=assignments, log=log)
    summary = {k: {"mean": round(v["mean"], 4), "std": round(v["std"], 4)} for k, v in result.summary.items()}
    report: dict = {"out": str(result.out), "folds": folds, "val": summary}
    if ensemble:
        test = ensemble_evaluate(result.out)
        report["ensemble_test"] = {k: round(test[k], 4) for k in get_task(result.task).cv_metrics if k in test}
    print(dumps(report, indent=2))


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    split: Annotated[str | None, typer.Option(help="train, val or test (default: the run's eval.split)")] = None,
    lengths: Annotated[
        str | None,
        typer.Option(help="score at these sequence lengths instead (length extrapolation), e.g. 512,1024,2048"),
    ] = None,
) -> None:
    """Evaluate a finished run on a split; prints the metrics as JSON. With --lengths, once per length (the
    diagnostic tasks' task.length, a language model's task.block_size)."""
    from seqarena.run import evaluate as run_evaluate
    from seqarena.run import evaluate_lengths
    from seqarena.splits import check_split

    if lengths is not None:
        try:
            values = [int(v) for v in lengths.split(",") if v.strip()]
        except ValueError:
            raise SeqarenaError(f"--lengths {lengths!r}: give whole numbers separated by commas, e.g. 512") from None
        by_length = evaluate_lengths(run_dir, values, split and check_split(split))
        table = {str(n): rounded(m) for n, m in by_length.items()}
        print(dumps({"split": split or "test", "lengths": table}, indent=2))
        return
    metrics = run_evaluate(run_dir, split and check_split(split))
    print(dumps({split or "test": rounded(metrics)}, indent=2))


@app.command()
def backtest(
    run_dir: Annotated[Path, typer.Argument(help="a finished forecasting run")],
    windows: Annotated[int, typer.Option(help="how many forecast origins, the last at the end of the test split")] = 5,
    step: Annotated[int | None, typer.Option(help="rows between origins (default: the horizon)")] = None,
    refit: Annotated[
        str, typer.Option(help="none (the trained model), every (train again before each window), or K windows")
    ] = "none",
) -> None:
    """Rolling-origin evaluation (historical forecasts): per-window and mean metrics as JSON. --refit trains the
    run's config again on every row before an origin (an expanding window)."""
    from seqarena.run import backtest as run_backtest

    result = run_backtest(run_dir, windows, step, refit, log=log)
    result["windows"] = [rounded(w) for w in result["windows"]]
    result["mean"] = rounded(result["mean"])
    print(dumps(result, indent=2))
    mean = result["mean"]
    log(f"{len(result['windows'])} windows: mean MSE {mean['mse']:.4f}, MAE {mean['mae']:.4f}, MASE {mean['mase']:.3f}")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    input: Annotated[
        Path, typer.Option("--input", help="forecast: a CSV of >= task.lookback rows; classify: sequences to label")
    ],
    output: Annotated[Path, typer.Option("--output", help="where to write the predictions (CSV)")],
    intervals: Annotated[
        bool, typer.Option(help="forecast: a point model's conformal quantile columns (a probabilistic one has them)")
    ] = False,
    ids: Annotated[str | None, typer.Option(help="forecast, many series: only these ids (comma-separated)")] = None,
    future: Annotated[
        Path | None, typer.Option(help="forecast: a CSV/Parquet of the future-known columns over the horizon")
    ] = None,
) -> None:
    """Predictions for new inputs, by the run's task. Forecasting: the horizon after the end of --input (of each
    series in a long table), in original units, with <column>-lo-80 / -hi-80 quantile columns from a probabilistic
    model (or with --intervals, conformal ones for a point model). Classification: a label and class probabilities
    for each sequence of --input (a table like the training data, a .ts file, or for character models a text file
    with one sequence per line). Tagging: a tag per token; next item: the top k items per user; anomaly detection:
    a score and a flag per step of a series file. --output - writes to stdout."""
    from seqarena.files import atomic_open, check_output_file
    from seqarena.run import predict as run_predict

    check_output_file(output)
    options = {"intervals": True} if intervals else {}
    if ids:
        options["ids"] = [i.strip() for i in ids.split(",") if i.strip()]
    if future is not None:
        options["future"] = future
    result, what = run_predict(run_dir, input, **options)
    if str(output) == "-":
        result.to_csv(sys.stdout, index=False)
        log(f"wrote {what}")
        return
    with atomic_open(output) as fh:
        result.to_csv(fh, index=False)
    log(f"wrote {what} to {output}")


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
        print(dumps(result, indent=2))
    elif streaming:
        print(prompt if not echoed else "")
    else:
        for i, text in enumerate(result["samples"]):
            print(f"--- sample {i + 1} ---\n{prompt}{text}")
    log(
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
    plot: Annotated[
        Path | None, typer.Option(help="write the first sentence's attention heatmap (SVG; - for stdout)")
    ] = None,
) -> None:
    """Translate a sentence (or stdin, line by line) with a trained sequence-to-sequence model."""
    from seqarena.files import check_output_file
    from seqarena.run import translate as run_translate

    if plot is not None:
        check_output_file(plot, "--plot")
    texts = [text] if text is not None else [line.strip() for line in sys.stdin if line.strip()]
    result = run_translate(run_dir, texts, beam=beam, attention=plot is not None)
    to_stdout = plot is not None and str(plot) == "-"  # the SVG on stdout; the translations go to stderr then
    if plot is not None:
        from seqarena.files import atomic_write_text
        from seqarena.report.plots import attention_heatmap

        svg = attention_heatmap(result["attention"])
        if to_stdout:
            sys.stdout.write(svg)
        else:
            atomic_write_text(plot, svg)
    for line in result["outputs"]:
        print(line, file=sys.stderr if to_stdout else sys.stdout)
    log(
        f"{len(texts)} sentence(s) in {result['seconds']:.3f} s ({result['sentences_per_s']:.1f}/s, "
        f"{result['threads']} threads, {result['decoding']})" + (f"; attention plot: {plot}" if plot else "")
    )
