"""`seqarena models` and `seqarena datasets`: what is registered, what it can do, and what is available offline."""

from __future__ import annotations

from seqarena.cli.app import app


def onnx(cls: type, cap: object) -> str:
    """How `seqarena export` exports the model: its first exporter, and a step graph for stateful models."""
    if not getattr(cap, "trainable", True):
        return "-"
    way = "dynamo" if cls.onnx_exporter == "dynamo" else "tracer"
    if not cls.onnx_variable_length:  # a Python loop over time: a window of one length (forecasting), else steps
        return f"{way}+step, fixed T"
    return f"{way}+step" if getattr(cap, "stateful", False) else way


@app.command()
def models() -> None:
    """Every registered model: family, kind, capabilities, parameters at the default size, and the tasks it
    serves."""
    from rich.console import Console
    from rich.table import Table

    from seqarena.models.base import ForecastSpec, count_params
    from seqarena.registry import get_model, get_task, model_names, task_names

    table = Table(
        "model", "family", "kind", "causal", "bidirectional", "stateful", "streams", "time gaps", "ONNX",
        "params (default)",
    )  # fmt: skip
    table.add_column("tasks", overflow="fold")
    spec = ForecastSpec(lookback=96, horizon=96, channels=7, period=24)
    tasks = [get_task(t) for t in task_names()]
    for name in model_names():
        cls = get_model(name)
        net = cls(cls.Config(), spec) if cls.kind == "forecaster" else cls(cls.Config())
        cap = cls.capabilities_of(cls.Config())
        size = f"{count_params(net):,}" + (" (96->96, 7 ch)" if cls.kind == "forecaster" else "")
        serves = [t.name for t in tasks if t.requires.why_not(name, cap) is None]
        yes = {True: "yes", False: "-"}
        table.add_row(
            name, cap.family, cap.kind, yes[cap.causal], yes[cap.bidirectional], yes[cap.stateful],
            yes[cap.streaming], yes[cap.time_aware], onnx(cls, cap), size, ",".join(serves),
        )  # fmt: skip
    Console(width=175).print(table)


@app.command()
def datasets() -> None:
    """Every registered dataset: task, source, defaults, licence, and whether it is available offline."""
    from rich.console import Console
    from rich.table import Table

    from seqarena.data import anomalies, labelled, pairs, registry, tagged

    table = Table("dataset", "task", "size", "defaults", "period", "licence", "available", "description")
    for row in [*registry.listing(), *labelled.listing(), *pairs.listing(), *tagged.listing(), *anomalies.listing()]:
        table.add_row(*row)
    Console(width=160).print(table)
