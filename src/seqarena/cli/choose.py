"""Commands that turn measurements into decisions: claims (the folklore checked) and advise (a shortlist, verified)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqarena.cli.app import app, log
from seqarena.errors import SeqarenaError


@app.command()
def claims(
    quick: Annotated[bool, typer.Option("--quick", help="the 30-minute scale (the default)")] = False,
    full: Annotated[bool, typer.Option("--full", help="more seeds, lengths and steps (hours)")] = False,
    tiny: Annotated[
        bool, typer.Option("--tiny", help="seconds per claim, to try the command (no real verdicts)")
    ] = False,
    only: Annotated[list[str] | None, typer.Option(help="run only this claim (repeatable; see --list)")] = None,
    out: Annotated[Path, typer.Option(help="where to write claims.json, claims.md and claims.html")] = Path("claims"),
    list_: Annotated[bool, typer.Option("--list", help="list the claims and exit")] = False,
) -> None:
    """Check the folklore about sequence models by experiment: each claim, where it is made, the experiment, the
    figures with 95% intervals and a verdict (holds / refuted / depends / pending)."""
    from seqarena.claims import check
    from seqarena.claims import claims as catalogue
    from seqarena.claims.base import select

    if list_:
        for c in select(only) if only else catalogue().values():
            print(f"{c.name:32s} {c.statement}")
        return
    if sum((quick, full, tiny)) > 1:
        raise SeqarenaError("give one of --quick, --full or --tiny")
    scale = "full" if full else "tiny" if tiny else "quick"
    doc = check(scale, only=only, out=out, log=log)
    width = max(len(c["name"]) for c in doc["claims"])
    for c in doc["claims"]:
        print(f"{c['name']:{width}s}  {c['verdict']:8s}  {c['because']}")
    print(f"{len(doc['claims'])} claims in {doc['seconds']:.0f} s; report: {out / 'claims.html'}")


def _task_of(data: str | None, task: str | None) -> str:
    if task:
        return task
    if data:
        from seqarena.data import registry as datasets

        try:
            return datasets.get_info(data).task
        except SeqarenaError:
            return "forecast"  # a file: a series to forecast unless --task says otherwise
    return "forecast"


@app.command()
def advise(
    data: Annotated[str | None, typer.Option(help="measure this dataset (a registered name or a file)")] = None,
    task: Annotated[str | None, typer.Option(help="forecast, classify, lm, ... (default: the dataset's task)")] = None,
    seq_len: Annotated[int | None, typer.Option(help="steps a model reads at once (without --data)")] = None,
    samples: Annotated[int | None, typer.Option(help="training examples (without --data)")] = None,
    channels: Annotated[int | None, typer.Option(help="input channels (without --data)")] = None,
    classes: Annotated[int | None, typer.Option(help="classes of a whole-sequence label (without --data)")] = None,
    latency_ms: Annotated[
        float | None, typer.Option(help="the most one batch-1 prediction may take (measured)")
    ] = None,
    memory_mb: Annotated[float | None, typer.Option(help="the most a training step may hold (measured)")] = None,
    streaming: Annotated[bool, typer.Option(help="predictions come step by step from a carried state")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda: where it will train")] = "cpu",
    verify: Annotated[bool, typer.Option(help="race the shortlist on the data (needs --data)")] = False,
    evaluate: Annotated[bool, typer.Option(help="the advisor's hit rate over the built-in datasets")] = False,
    budget: Annotated[list[str] | None, typer.Option(help="seconds=300: training time of the race (per race)")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="task options of the data: --set task.length=200")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="where the race or the track record is written")] = None,
) -> None:
    """A ranked shortlist of models for a task and its data, from the field's rules of thumb with a reason each;
    --verify races it on the data, --evaluate scores the rules over the built-in datasets."""
    import json

    from seqarena.advise import Properties, from_data
    from seqarena.advise import advise as run_advise
    from seqarena.files import dumps

    seconds = _seconds(budget)
    if evaluate:
        from seqarena.advise.track import track_record

        doc = track_record(out or Path("advise/track-record"), seconds or 120, log=log)
        print(dumps({k: doc[k] for k in ("hits", "datasets", "hit_rate", "interval")}, indent=2))
        print((out or Path("advise/track-record")) / "advisor.md")
        return
    options = {}
    for item in set_ or []:
        key, _, value = item.partition("=")
        if not key.startswith("task.") or not value:
            raise SeqarenaError(f"--set {item!r}: give task.<option>=<value>, e.g. task.length=200")
        options[key.removeprefix("task.")] = (
            json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
        )
    name = _task_of(data, task)
    constraints = {"latency_ms": latency_ms, "memory_mb": memory_mb, "streaming": streaming, "device": device}
    if data is not None:
        manual = (("--seq-len", seq_len), ("--samples", samples), ("--channels", channels), ("--classes", classes))
        given = [f for f, v in manual if v]
        if given:
            raise SeqarenaError(f"{', '.join(given)} come from the data with --data; give one or the other")
        props = from_data(name, data, options, **constraints)
    else:
        if verify:
            raise SeqarenaError("--verify races the shortlist on data: give --data NAME|FILE")
        props = Properties(task=name, seq_len=seq_len, samples=samples, channels=channels, classes=classes,
                           **constraints)  # fmt: skip
    advice = run_advise(props)
    _print_advice(advice)
    if verify:
        from seqarena.advise.verify import race

        target = out or Path("advise") / f"{name}-{Path(data).stem}"
        result = race(advice, target, seconds or 300, {"name": name, "data": data, **options}, log=log)
        _print_race(result)


def _seconds(budget: list[str] | None) -> float | None:
    seconds = None
    for item in budget or []:
        key, _, value = item.partition("=")
        if key.strip() != "seconds":
            raise SeqarenaError(f"--budget {item!r}: the advisor's budget is seconds=N (training time of the race)")
        try:
            seconds = float(value)
        except ValueError:
            raise SeqarenaError(f"--budget {item!r}: seconds must be a number, e.g. seconds=300") from None
        if not seconds > 0:
            raise SeqarenaError(f"--budget {item!r}: give a time > 0")
    return seconds


def _print_advice(advice: dict) -> None:
    p = advice["properties"]
    facts = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in p.items()
        if v not in (None, False, 0.0) and k != "task"
    )
    print(f"task {p['task']}: {facts}")
    print("shortlist (points from the rules below; 'tied' = within a point of the top):")
    for pick in advice["shortlist"]:
        why = "; ".join(f"{pts:+g} {rule}" for pts, rule in pick["reasons"]) or "no rule applies"
        measured = "".join(f", {k.replace('_', ' ')} {v:.3g}" for k, v in (pick.get("measured") or {}).items())
        print(f"  {pick['rank']}. {pick['model']:18s} {pick['points']:+g}{' (tied)' if pick['tied'] else ''}  "
              f"[{why}{measured}]")  # fmt: skip
    for e in advice["excluded"]:
        print(f"  left out: {e['model']}: {e['why']}")
    print("rules applied:")
    for r in advice["rules"]:
        print(f"  - {r['name']}: {r['reason']} ({r['source']})")


def _print_race(result: dict) -> None:
    arrow = "higher" if result["higher_is_better"] else "lower"
    print(f"race ({result['metric']}, {arrow} is better; {result['seconds_per_run']:.0f} s per run, "
          f"{result['seeds']} seeds):")  # fmt: skip
    for i, line in enumerate(result["board"], start=1):
        ci = f" ± {line['ci']:.3g}" if isinstance(line["ci"], float) and line["ci"] == line["ci"] else ""
        rank = f"rules' rank {line['rules_rank']}" if line["rules_rank"] else "baseline"
        value = "-" if line["value"] is None else f"{line['value']:.4g}"
        print(f"  {i}. {line['model']:18s} {value}{ci}  ({rank})")
    top, best = result["top_pick"], result["measured_best"]
    n = len(result["board"])
    where = f"came {result['top_pick_rank']} of {n}" if result["top_pick_rank"] else "did not finish"
    verdict = "agree" if result["hit"] else "disagree"
    print(
        f"rules and measurement {verdict}: the top pick {top} {where}; the measured best is {best}"
        + ("" if top == best else f" ({'within' if result['hit'] else 'outside'} its 95% interval)")
    )
    if result["rank_correlation"] is not None:
        print(f"rank correlation of the rules' order with the race: {result['rank_correlation']:.2f}")
    print(f"report: {result['report']}")
