"""What every report figure shares: one colour per model across all figures, the spread whiskers, and SVG text
that declares its legend (data-legend: label -> colour, read from the drawn legend handles) so a check can prove
each figure has a legend and each model keeps its colour."""

from __future__ import annotations

import html
import io
import json
import math
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
_COUNTER = [0]
TRUTH = "#000000"  # the observed series in forecast plots; no model gets black


def palette(labels: list[str]) -> dict[str, str]:
    """label -> colour, fixed for the whole report: tab10, then tab20's light shades, for up to 20 models."""
    colours = [to_hex(c) for c in plt.get_cmap("tab10").colors]
    colours += [to_hex(c) for c in plt.get_cmap("tab20").colors[1::2]]
    return {label: colours[i % len(colours)] for i, label in enumerate(dict.fromkeys(labels))}


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def spread(b: dict[str, Any], key: str) -> tuple[float, float] | None:
    """(below, above) the mean for an error bar: the leaderboard's interval (never below zero for a quantity that
    is never negative; min-max with two seeds), or None with one seed."""
    lo, hi, mean = b.get(f"{key}_lo"), b.get(f"{key}_hi"), b.get(key)
    if not (finite(lo) and finite(hi) and finite(mean)):
        return None
    return max(mean - lo, 0.0), max(hi - mean, 0.0)


def legend_outside(ax: Any, **options: Any) -> Any:
    """A legend to the right of the axes, so it never covers the data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, **options)


def _handle_colour(handle: Any) -> str | None:
    for getter in ("get_color", "get_facecolor", "get_edgecolor"):
        if hasattr(handle, getter):
            value = getattr(handle, getter)()
            if hasattr(value, "ndim") and value.ndim == 2:
                value = value[0] if len(value) else None
            if value is not None:
                try:
                    return to_hex(value)
                except ValueError:
                    continue
    return None


def legend_of(fig: Any) -> dict[str, str]:
    """The figure's legend entries as label -> colour, from the handles matplotlib drew."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    out: dict[str, str] = {}
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
            colour = _handle_colour(handle)
            if colour is not None:
                out[text.get_text()] = colour
    return out


def svg(fig: Any, kind: str = "chart") -> str:
    """The figure as SVG text, with data-legend and data-kind ("chart", or "heatmap" whose legend is its colour
    bar) on the root element."""
    _COUNTER[0] += 1
    plt.rcParams["svg.hashsalt"] = f"seqarena-{_COUNTER[0]}"  # distinct element ids for figures on one page
    legend = legend_of(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # RDF namespaces and a timestamp
    text = text[text.index("<svg") :]
    attrs = f' data-kind="{kind}" data-legend="{html.escape(json.dumps(legend), quote=True)}"'
    return text.replace("<svg", "<svg" + attrs, 1)
