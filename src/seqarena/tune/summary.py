"""What a finished study says: every trial (state, value, values, epochs, seconds), the default trial against the
best, parameter importances, best.yaml, and report.md with two plots (optimisation history, importances)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from seqarena.files import atomic_write_text, write_json
from seqarena.tune.search import trial_config
from seqarena.tune.study import Setup, finite, setup_dict


def summarize(study: Any, setup: Setup) -> dict[str, Any]:
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value if t.value is not None and math.isfinite(t.value) else None,
            "params": dict(t.params),
            "default": bool(t.user_attrs.get("default")),
            "epochs": t.user_attrs.get("epochs"),
            "seconds": t.user_attrs.get("seconds"),
            "last": _last(t),
        })  # fmt: skip
    complete = [r for r in rows if r["state"] == "complete"]
    counted = [r for r in rows if r["state"] in ("complete", "pruned", "fail")]
    best = None
    if complete:
        pick = max if setup.direction == "maximize" else min
        best = pick(complete, key=lambda r: r["value"] if r["value"] is not None else math.inf)
    default = next((r for r in rows if r["default"]), None)
    importances: dict[str, float] = {}
    if len(complete) >= 3 and len({tuple(sorted(r["params"].items())) for r in complete}) >= 2:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError):  # too few distinct values to split on
            importances = {}
    return {
        "study": setup.name,
        "metric": f"val {setup.metric}",
        "direction": setup.direction,
        "trials": len(counted),
        "complete": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "failed": sum(r["state"] == "fail" for r in rows),
        "pruned_share": round(sum(r["state"] == "pruned" for r in rows) / max(len(counted), 1), 3),
        "default_value": default["value"] if default else None,
        "best_value": best["value"] if best else None,
        "best_trial": best["number"] if best else None,
        "best_params": best["params"] if best else {},
        "importances": importances,
        "rows": rows,
    }


def _last(trial: Any) -> float | None:
    """A trial's last reported per-epoch value (where a pruned trial stood when it stopped)."""
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def write(out: Path, summary: dict[str, Any], setup: Setup) -> None:
    """trials.json, best.yaml (when a trial completed), report.md and its plots."""
    write_json(out / "trials.json", {"setup": setup_dict(setup), **summary})
    if summary["best_trial"] is not None:
        best = trial_config(setup, summary["best_params"])
        text = f"# best of study {setup.name}: trial {summary['best_trial']}, val {setup.metric} "
        text += f"{summary['best_value']:.6g}\n" + yaml.safe_dump(best, sort_keys=False)
        atomic_write_text(out / "best.yaml", text)
    _plots(out, summary)
    atomic_write_text(out / "report.md", markdown(summary, setup))


def _plots(out: Path, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    pruned = [r for r in rows if r["state"] == "pruned" and r["last"] is not None]
    ax.scatter([r["number"] for r in done], [r["value"] for r in done], s=18, label="complete")
    ax.scatter([r["number"] for r in pruned], [r["last"] for r in pruned], s=18, marker="x", label="pruned (last)")
    best, curve = None, []
    for r in sorted(done, key=lambda r: r["number"]):
        better = best is None or (r["value"] > best if summary["direction"] == "maximize" else r["value"] < best)
        best = r["value"] if better else best
        curve.append((r["number"], best))
    if curve:
        ax.step(*zip(*curve, strict=True), where="post", color="black", linewidth=1, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(summary["metric"])
    ax.set_title("optimisation history")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "history.svg")
    plt.close(fig)
    if summary["importances"]:
        items = sorted(summary["importances"].items(), key=lambda kv: kv[1])
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(items) + 1))
        ax.barh([k for k, _ in items], [v for _, v in items])
        ax.set_xlabel("importance (fANOVA)")
        fig.tight_layout()
        fig.savefig(out / "importance.svg")
        plt.close(fig)


def markdown(summary: dict[str, Any], setup: Setup) -> str:
    metric = summary["metric"]
    lines = [
        f"# Study {setup.name}",
        "",
        f"{summary['trials']} trials ({summary['complete']} complete, {summary['pruned']} pruned, "
        f"{summary['failed']} failed), {setup.pruner} pruning, TPE sampling, ranked by {metric} "
        f"({'higher' if setup.direction == 'maximize' else 'lower'} is better).",
        "",
    ]
    if finite(summary["default_value"]) and finite(summary["best_value"]):
        lines += [f"- the config as given (trial 0): {metric} {summary['default_value']:.6g}",
                  f"- the best (trial {summary['best_trial']}): {metric} {summary['best_value']:.6g}", ""]  # fmt: skip
    lines += ["## Search space", ""] + [f"- `{k}`: {_describe(v)}" for k, v in setup.space.items()] + [""]
    lines += ["## Best values", ""] + [f"- `{k}` = {_fmt(v)}" for k, v in summary["best_params"].items()] + [""]
    lines += ["![optimisation history](history.svg)", ""]
    if summary["importances"]:
        lines += ["## Parameter importances", "", "| parameter | importance |", "|---|---:|"]
        lines += [f"| `{k}` | {v:.3f} |" for k, v in summary["importances"].items()]
        lines += ["", "![parameter importances](importance.svg)", ""]
    keys = list(setup.space)
    lines += ["## Trials", "", "| trial | state | " + metric + " | epochs | seconds | " + " | ".join(keys) + " |"]
    lines += ["|" + "---:|" * 2 + "---:|" * 3 + "---:|" * len(keys)]
    for r in summary["rows"]:
        value = r["value"] if r["value"] is not None else r["last"]
        shown = f"{value:.5g}" if finite(value) else "–"
        shown += " (at prune)" if r["state"] == "pruned" and finite(value) else ""
        cells = [str(r["number"]) + (" (default)" if r["default"] else ""), r["state"], shown,
                 str(r["epochs"] or "–"), f"{r['seconds']:.0f}" if r["seconds"] else "–"]  # fmt: skip
        lines.append("| " + " | ".join(cells + [_fmt(r["params"].get(k)) for k in keys]) + " |")
    return "\n".join(lines) + "\n"


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"one of {value}"
    kind = "integer" if value.get("int") else "float"
    return f"{kind} in [{value['low']:g}, {value['high']:g}]" + (", log scale" if value.get("log") else "")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


__all__ = ["summarize", "write", "markdown"]
