"""A check of a rendered report (its HTML, or the DOM a browser made of it): every figure has a legend (a colour
bar for a heatmap), each model keeps one colour across all figures, and no two models share one. Figures declare
their legends as data-legend, read from the legend handles matplotlib drew (report/figure.py)."""

from __future__ import annotations

import html
import json
import re

_SVG = re.compile(r"<svg\b[^>]*>")
_ATTR = re.compile(r'data-(kind|legend)="([^"]*)"')


def figures(page: str) -> list[tuple[str, dict[str, str]]]:
    """(kind, legend label -> colour) of every report figure on the page."""
    out = []
    for tag in _SVG.findall(page):
        attrs = dict(_ATTR.findall(tag))
        if "kind" in attrs:
            out.append((attrs["kind"], json.loads(html.unescape(attrs.get("legend", "{}")))))
    return out


def problems(page: str, models: list[str]) -> list[str]:
    """What is wrong with the report's figures; [] when every figure passes."""
    found, colours = figures(page), {}
    out = [] if found else ["the page has no report figure"]
    for i, (kind, legend) in enumerate(found, start=1):
        if kind != "heatmap" and not legend:
            out.append(f"figure {i} has no legend")
        for label, colour in legend.items():
            if label in models:
                colours.setdefault(label, set()).add(colour)
    for label, seen in colours.items():
        if len(seen) > 1:
            out.append(f"{label} has {len(seen)} colours across the figures: {', '.join(sorted(seen))}")
    owners: dict[str, list[str]] = {}
    for label, seen in colours.items():
        for colour in seen:
            owners.setdefault(colour, []).append(label)
    out += [f"{' and '.join(sorted(labels))} share the colour {c}" for c, labels in owners.items() if len(labels) > 1]
    return out
