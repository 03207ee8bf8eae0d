"""claims.json, claims.md and claims.html (self-contained, no network) from the findings of a claims run."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from seqarena.files import atomic_write_text, write_json

MARK = {"holds": "holds", "refuted": "refuted", "depends": "depends", "pending": "pending"}
COLOUR = {"holds": "#1b7f3b", "refuted": "#b3261e", "depends": "#8a5a00", "pending": "#555555"}


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def _figure_text(f: dict[str, Any]) -> str:
    text = _num(f["value"])
    if f.get("ci"):
        text += f" ± {_num(f['ci'])}"
    return text + (f" {f['unit']}" if f.get("unit") else "")


def write(out: Path, doc: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "claims.json", doc)
    atomic_write_text(out / "claims.md", markdown(doc))
    atomic_write_text(out / "claims.html", page(doc))
    return [out / "claims.json", out / "claims.md", out / "claims.html"]


def markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    lines = [
        "# Claims check",
        "",
        f"Scale `{doc['scale']}`, {env['date']}, {env['machine']}, torch {env['torch']}, {env['threads']} threads; "
        f"{doc['seconds']:.0f} s in all. ± is the 95% confidence interval across seeds (Student t); a figure "
        f"without one comes from one seed or is exact.",
        "",
        "| claim | verdict | because |",
        "|---|---|---|",
    ]
    lines += [f"| {c['name']} | **{MARK[c['verdict']]}** | {c['because']} |" for c in doc["claims"]]
    for c in doc["claims"]:
        lines += [
            "",
            f"## {c['name']}: {MARK[c['verdict']]}",
            "",
            f"> {c['statement']}",
            "",
            f"- **Where it is said:** {c['source']}",
            f"- **Experiment:** {c['experiment']}",
            f"- **Verdict:** {c['verdict']}: {c['because']}",
            f"- **Reproduce:** `{c['command']}` ({c['seconds']:.0f} s)",
            "",
        ]
        if c["figures"]:
            lines += ["| figure | value |", "|---|---:|"]
            lines += [f"| {f['label']} | {_figure_text(f)} |" for f in c["figures"]]
        if c.get("table"):
            t = c["table"]
            lines += ["", "| " + " | ".join(t["columns"]) + " |", "|" + "---|" * len(t["columns"])]
            lines += ["| " + " | ".join(_num(v) for v in row) + " |" for row in t["rows"]]
    return "\n".join(lines) + "\n"


def page(doc: dict[str, Any]) -> str:
    e = html.escape
    env = doc["environment"]
    rows = "".join(
        f"<tr><td><a href='#{e(c['name'])}'>{e(c['name'])}</a></td>"
        f"<td style='color:{COLOUR[c['verdict']]};font-weight:600'>{e(c['verdict'])}</td>"
        f"<td>{e(c['because'])}</td></tr>"
        for c in doc["claims"]
    )
    sections = []
    for c in doc["claims"]:
        figs = "".join(
            f"<tr><td>{e(f['label'])}</td><td class='n'>{e(_figure_text(f))}</td></tr>" for f in c["figures"]
        )
        table = ""
        if c.get("table"):
            t = c["table"]
            head = "".join(f"<th>{e(str(h))}</th>" for h in t["columns"])
            body = "".join("<tr>" + "".join(f"<td>{e(_num(v))}</td>" for v in r) + "</tr>" for r in t["rows"])
            table = f"<table><tr>{head}</tr>{body}</table>"
        sections.append(
            f"<section id='{e(c['name'])}'><h2>{e(c['name'])}: <span style='color:{COLOUR[c['verdict']]}'>"
            f"{e(c['verdict'])}</span></h2><blockquote>{e(c['statement'])}</blockquote>"
            f"<p><b>Where it is said:</b> {e(c['source'])}</p><p><b>Experiment:</b> {e(c['experiment'])}</p>"
            f"<p><b>Because:</b> {e(c['because'])}</p><p><b>Reproduce:</b> <code>{e(c['command'])}</code> "
            f"({c['seconds']:.0f} s)</p>"
            + (f"<table><tr><th>figure</th><th>value</th></tr>{figs}</table>" if figs else "")
            + table
            + "</section>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width, initial-scale=1'><title>seqarena claims check</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.4}"
        "table{border-collapse:collapse;margin:.5rem 0;display:block;overflow-x:auto}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}td.n{text-align:right}"
        "blockquote{margin:0;padding:.25rem 1rem;border-left:4px solid #ccc}</style></head><body>"
        f"<h1>Claims check</h1><p>Scale <code>{e(doc['scale'])}</code>, {e(env['date'])}, {e(env['machine'])}, "
        f"torch {e(env['torch'])}, {env['threads']} threads; {doc['seconds']:.0f} s in all. ± is the 95% "
        "confidence interval across seeds (Student t); a figure without one comes from one seed or is exact.</p>"
        f"<table><tr><th>claim</th><th>verdict</th><th>because</th></tr>{rows}</table>{''.join(sections)}"
        "</body></html>"
    )
