"""A self-contained HTML report: images embedded as data URIs, no script, no network."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Section:
    """One chapter of the report: what was done, how, and what came out."""

    key: str  # stable identifier, also the anchor in the HTML and the key in results.json
    title: str
    status: str = "ok"  # ok | skipped
    how: str = ""  # how the numbers were made: epochs, sample counts, device, wall time
    text: str = ""  # what the section shows, or why it was skipped
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, PNG path)
    numbers: dict[str, Any] = field(default_factory=dict)
    table: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
.how { font-size: 0.9em; color: #555; background: #f7f7f7; padding: 0.4em 0.7em; }
.skipped { color: #a15c00; font-weight: bold; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"<td class='num'>{text}</td>"


def _table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c, "")) for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    mime = "image/gif" if Path(path).suffix.lower() == ".gif" else "image/png"
    return f"data:{mime};base64,{data}"


def render_report(title: str, intro: str, sections: Sequence[Section],
                  summary: Sequence[dict[str, Any]]) -> str:
    """The whole report as one HTML string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        "<h2 id='summary'>Summary</h2>",
        _table(summary),
    ]
    for section in sections:
        parts.append(f"<h2 id='{html.escape(section.key)}'>{html.escape(section.title)}</h2>")
        if section.status != "ok":
            parts.append(f"<p class='skipped'>Skipped: {html.escape(section.text)}</p>")
            continue
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.how:
            parts.append(f"<p class='how'>How: {html.escape(section.how)}</p>")
        if section.numbers:
            parts.append(_table([{"metric": k, "value": v} for k, v in section.numbers.items()]))
        parts.append(_table(section.table))
        for caption, path in section.figures:
            parts.append(
                f"<figure><img src='{_image(path)}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
