"""Claims about recurrent networks: GRU's parameter saving, the vanilla RNN's short memory, LSTM against RNN on
long dependencies, GRU against LSTM on short ones (one length sweep of the adding problem serves the last three),
and gradient clipping's effect on stability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqarena.claims import measure
from seqarena.claims.base import Figure, Finding, claim

RECURRENT = ("rnn", "lstm", "gru")
SWEEP = {
    "tiny": {"lengths": [5, 10], "seeds": [0], "n_train": 64, "steps": 4, "params": 5000},
    "quick": {"lengths": [5, 10, 25, 50, 100, 200], "seeds": [0, 1], "n_train": 4000, "steps": 800, "params": 15000},
    "full": {
        "lengths": [5, 10, 25, 50, 100, 200, 400],
        "seeds": [0, 1, 2],
        "n_train": 10000,
        "steps": 4000,
        "params": 30000,
    },
}
LR_HIGH = 0.01  # the clipping claim's learning rate: high for an RNN, not hopeless
SOLVED = 0.1  # a run "learns" the adding problem when its MSE is below 10% of predicting 1 (90% of the variance)


def _sweep(sizes: dict[str, Any], work: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Test results of rnn, lstm and gru on the adding problem at every length, per seed."""

    def run() -> dict[tuple[str, int], list[dict[str, Any]]]:
        out = {}
        n = sizes["n_train"]
        for length in sizes["lengths"]:
            for model in RECURRENT:
                raw = {
                    "task": {"name": "adding", "length": length, "n_train": n, "n_val": 500, "n_test": 1000},
                    "model": {"name": model, "params": sizes["params"]},
                    "train": {
                        "max_steps": sizes["steps"],
                        "max_epochs": 1000,
                        "batch_size": 32,
                        "lr": 3e-3,
                        "patience": None,
                    },
                }
                out[(model, length)] = measure.seeded(raw, sizes["seeds"], work / "adding-sweep")
        return out

    return measure.memo(f"adding-sweep-{sorted(sizes.items())}", run)


def _ratio(runs: list[dict[str, Any]]) -> list[float]:
    """Each seed's test MSE as a share of predicting 1."""
    return [r["test"]["mse"] / r["test"]["constant_mse"] for r in runs if "test" in r]


def _solves(runs: list[dict[str, Any]]) -> bool:
    ratios = _ratio(runs)
    return bool(ratios) and all(v < SOLVED for v in ratios)


def _longest(sweep: dict, model: str, lengths: list[int]) -> int | None:
    solved = [t for t in lengths if _solves(sweep[(model, t)])]
    return max(solved) if solved else None


def _table(sweep: dict, lengths: list[int]) -> dict[str, Any]:
    rows = []
    for t in lengths:
        row: list[Any] = [t]
        for model in RECURRENT:
            mean, ci = measure.stat(_ratio(sweep[(model, t)]))
            row.append(measure.fmt(mean, 3) + (f" ± {measure.fmt(ci, 2)}" if ci else ""))
        rows.append(row)
    return {"columns": ["T", *[f"{m} MSE / baseline" for m in RECURRENT]], "rows": rows}


_SWEEP_TEXT = (
    "adding problem (two marked values among T; predicting 1 is the baseline) at T = {lengths}; rnn, lstm, gru at "
    "{params:,} parameters; {steps} steps of batch 32, lr 3e-3; seeds {seeds}; 'learns' = every seed's test MSE "
    "below 10% of the baseline"
)


SWEEP_TEXT = _SWEEP_TEXT.format(**SWEEP["quick"]) + " (the quick scale; --full: T to 400, 3 seeds, 4000 steps)"


@claim(
    "gru_parameters",
    statement="A GRU has about a third fewer parameters than an LSTM of the same width.",
    source="RNN/LSTM/GRU comparison articles and their decision tables ('GRU: fewer parameters, trains faster')",
    experiment="count the parameters of seqarena's lstm and gru backbones (PyTorch kernels) at widths 16 to 512, "
    "one and three layers",
    sizes={"tiny": {"widths": [16]}, "quick": {"widths": [16, 64, 256, 512]}, "full": {"widths": [16, 64, 256, 512]}},
)
def gru_parameters(sizes: dict[str, Any], work: Path) -> Finding:
    from seqarena.models.base import count_params
    from seqarena.registry import get_model

    rows, ratios = [], []
    for width in sizes["widths"]:
        for layers in (1, 3):
            n = {
                m: count_params(get_model(m)(get_model(m).Config(d_model=width, num_layers=layers)))
                for m in ("lstm", "gru")
            }
            ratios.append(n["gru"] / n["lstm"])
            rows.append([width, layers, n["lstm"], n["gru"], f"{ratios[-1]:.3f}"])
    saving = 1 - sum(ratios) / len(ratios)
    verdict = "holds" if abs(saving - 1 / 3) < 0.05 else "refuted"
    return Finding(
        verdict,
        f"a GRU has {saving:.1%} fewer parameters than an LSTM of the same width: three gate blocks against four, so "
        f"a quarter, not a third",
        [Figure("GRU / LSTM parameters", sum(ratios) / len(ratios))],
        {"columns": ["width", "layers", "lstm params", "gru params", "gru / lstm"], "rows": rows},
    )


@claim(
    "rnn_10_step_limit",
    statement="A vanilla RNN cannot learn dependencies beyond about 10 steps.",
    source="LSTM tutorials and decision trees (after Bengio et al. 1994 and Hochreiter & Schmidhuber 1997)",
    experiment=SWEEP_TEXT,
    sizes=SWEEP,
)
def rnn_10_step_limit(sizes: dict[str, Any], work: Path) -> Finding:
    sweep, lengths = _sweep(sizes, work), sizes["lengths"]
    rnn, lstm = _longest(sweep, "rnn", lengths), _longest(sweep, "lstm", lengths)
    figures = [measure.figure(f"rnn, T={t}: test MSE / baseline", _ratio(sweep[("rnn", t)])) for t in lengths]
    said = f"the vanilla RNN learns the adding problem up to T = {rnn}" if rnn else "the RNN learns no length"
    said += f" (LSTM: up to {lstm})" if lstm else " (LSTM: none)"
    if rnn is None:
        verdict, why = "depends", "; at this budget it learns nothing, so the limit is not located"
    elif rnn <= 25:
        verdict, why = "holds", " and stays near the baseline beyond: a limit of tens of steps"
    elif rnn >= 100:
        verdict, why = "refuted", ": far beyond 10 steps at this budget"
    else:
        verdict, why = "depends", ": beyond 10 steps, but not beyond 100; the limit moves with the training budget"
    return Finding(verdict, said + why, figures, _table(sweep, lengths))


@claim(
    "lstm_beats_rnn_beyond_100",
    statement="Beyond about 100 steps an LSTM is far better than a vanilla RNN.",
    source="RNN vs LSTM comparison articles ('use an LSTM when dependencies span more than 100 steps')",
    experiment=SWEEP_TEXT,
    sizes=SWEEP,
)
def lstm_beats_rnn(sizes: dict[str, Any], work: Path) -> Finding:
    sweep = _sweep(sizes, work)
    long = [t for t in sizes["lengths"] if t >= 100] or sizes["lengths"][-1:]
    figures, better = [], []
    for t in long:
        for model in ("rnn", "lstm"):
            figures.append(measure.figure(f"{model}, T={t}: test MSE / baseline", _ratio(sweep[(model, t)])))
        r, lv = measure.stat(_ratio(sweep[("rnn", t)]))[0], measure.stat(_ratio(sweep[("lstm", t)]))[0]
        better.append((t, r, lv))
    lstm_solves = all(_solves(sweep[("lstm", t)]) for t in long)
    rnn_solves = any(_solves(sweep[("rnn", t)]) for t in long)
    pairs = ", ".join(f"T={t}: rnn {measure.fmt(r, 3)} vs lstm {measure.fmt(lv, 3)}" for t, r, lv in better)
    if lstm_solves and not rnn_solves:
        return Finding("holds", f"the LSTM learns and the RNN does not ({pairs}, MSE / baseline)", figures)
    if not lstm_solves and not rnn_solves:
        return Finding(
            "depends", f"neither learns T >= 100 at this budget ({pairs}); the LSTM needs more steps", figures
        )
    return Finding("refuted", f"the RNN keeps up with the LSTM ({pairs}, MSE / baseline)", figures)


@claim(
    "gru_matches_lstm_below_50",
    statement="Below about 50 steps a GRU does as well as an LSTM (and is the cheaper choice).",
    source="decision trees in RNN/LSTM/GRU articles ('sequence < 50 steps: GRU')",
    experiment=SWEEP_TEXT,
    sizes=SWEEP,
)
def gru_matches_lstm(sizes: dict[str, Any], work: Path) -> Finding:
    sweep = _sweep(sizes, work)
    short = [t for t in sizes["lengths"] if t <= 50]
    figures, differ = [], []
    for t in short:
        g, lv = _ratio(sweep[("gru", t)]), _ratio(sweep[("lstm", t)])
        figures += [
            measure.figure(f"gru, T={t}: test MSE / baseline", g),
            measure.figure(f"lstm, T={t}: test MSE / baseline", lv),
        ]
        both = _solves(sweep[("gru", t)]) == _solves(sweep[("lstm", t)])
        if not both:
            differ.append(f"T={t}: only {'gru' if _solves(sweep[('gru', t)]) else 'lstm'} learns")
    if not differ:
        return Finding(
            "holds", f"at T <= 50 the GRU and the LSTM learn the same lengths ({', '.join(map(str, short))})", figures
        )
    return Finding("refuted", "; ".join(differ), figures)


@claim(
    "clipping_stability",
    statement="Gradient clipping makes training about three times more stable.",
    source="training-recipe articles on exploding gradients (after Pascanu et al. 2013)",
    experiment="vanilla RNN on the adding problem (T = 50) at a deliberately high learning rate (0.01, AdamW), "
    "with train.clip_norm=1 and without; a run diverges when its loss goes non-finite or its test MSE stays above "
    "predicting 1; divergence rate over seeds",
    sizes={
        "tiny": {"seeds": [0, 1], "steps": 4, "n_train": 64},
        "quick": {"seeds": [0, 1, 2, 3, 4, 5], "steps": 400, "n_train": 2000},
        "full": {"seeds": list(range(12)), "steps": 1500, "n_train": 4000},
    },
)
def clipping_stability(sizes: dict[str, Any], work: Path) -> Finding:
    failed = {}
    for clip in (1.0, None):
        raw = {
            "task": {"name": "adding", "length": 50, "n_train": sizes["n_train"], "n_val": 200, "n_test": 500},
            "model": {"name": "rnn", "d_model": 64},
            "train": {
                "max_steps": sizes["steps"],
                "max_epochs": 1000,
                "lr": LR_HIGH,
                "clip_norm": clip,
                "patience": None,
                "batch_size": 32,
            },
        }
        runs = measure.seeded(raw, sizes["seeds"], work / "clipping")
        failed[clip] = [("error" in r) or r["test"]["mse"] > r["test"]["constant_mse"] for r in runs]
    n = len(sizes["seeds"])
    rate = {c: sum(f) / n for c, f in failed.items()}
    stable = {c: 1 - r for c, r in rate.items()}  # the share of runs that train
    figures = [Figure("divergence rate with clip_norm=1", rate[1.0]), Figure("divergence rate without", rate[None])]
    said = f"{sum(failed[None])}/{n} runs fail without clipping, {sum(failed[1.0])}/{n} with"
    if stable[1.0] == stable[None]:
        if stable[None] in (0.0, 1.0):
            every = "fails" if stable[None] == 0 else "trains"
            return Finding("depends", said + f": every run {every} either way, so this learning rate does not "
                           "separate them", figures)  # fmt: skip
        return Finding("refuted", said + ": no difference at this learning rate", figures)
    if stable[1.0] < stable[None]:
        return Finding("refuted", said + ": clipping made it worse", figures)
    if stable[None] == 0 or stable[1.0] / stable[None] >= 3:
        none = " (no run trains without it)" if stable[None] == 0 else ""
        return Finding("holds", said + f": clipping turns {stable[None]:.0%} trainable runs into {stable[1.0]:.0%}"
                       + none, figures)  # fmt: skip
    return Finding("depends", said + ": clipping helps, but by less than three times", figures)
