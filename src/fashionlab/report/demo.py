"""The main job: run the whole project story and write one self-contained HTML report.

Each section is a function ``(DemoContext) -> Section`` that trains or evaluates
with the budget of the chosen profile, writes its figures into the demo folder and
says how its numbers were made. A section whose inputs are missing (for example no
air-quality data) raises ``FashionlabError`` and is reported as skipped; without
Fashion-MNIST, which all but one section read, the demo stops before it writes anything.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from fashionlab.data import load_fashion_mnist
from fashionlab.errors import FashionlabError
from fashionlab.report.context import PROFILES, DemoConfig, DemoContext, SectionFn
from fashionlab.report.html import Section, render_report
from fashionlab.report.sections import SECTIONS, WITHOUT_FASHION_MNIST
from fashionlab.runtime.device import resolve_device
from fashionlab.runtime.files import atomic_write_bytes, atomic_write_json, prepare_output_dir


def run_demo(config: DemoConfig, sections: list[tuple[str, str, SectionFn]] | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every section, write report.html and results.json; returns the results."""
    if config.profile not in PROFILES:
        raise FashionlabError(
            f"unknown demo profile {config.profile!r}; choose one of: {', '.join(PROFILES)}"
        )
    sections = SECTIONS if sections is None else sections
    unknown = set(config.only) - {key for key, _, _ in sections}
    if unknown:
        valid = ", ".join(key for key, _, _ in sections)
        raise FashionlabError(f"unknown demo section(s) {sorted(unknown)}; choose from: {valid}")
    selected = [s for s in sections if not config.only or s[0] in config.only]
    # Without Fashion-MNIST every section but the air-quality one would be skipped, and the
    # report would hold nothing: a missing data folder stops the demo here, before any file.
    data = (load_fashion_mnist(config.data_dir)
            if any(key not in WITHOUT_FASHION_MNIST for key, _, _ in selected) else None)
    out = prepare_output_dir(config.out)
    ctx = DemoContext(config, PROFILES[config.profile], out, resolve_device(config.device),
                      _data=data)
    started = time.perf_counter()
    done: list[Section] = []
    for key, title, fn in selected:
        log(f"== {title}")
        t0 = time.perf_counter()
        try:
            section = fn(ctx)
        except FashionlabError as exc:
            section = Section(key, title, status="skipped", text=str(exc))
            log(f"   skipped: {exc}")
        section.key, section.title = key, title
        section.seconds = round(time.perf_counter() - t0, 1)
        ctx.results[key] = section
        done.append(section)
        log(f"   {section.status} in {section.seconds:.1f} s")
    total = time.perf_counter() - started
    summary = summary_rows(done)
    results = {
        "profile": config.profile,
        "budget": asdict(ctx.budget),
        "device": str(ctx.device),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "seconds": round(total, 1),
        "sections": {s.key: _section_json(s) for s in done},
    }
    intro = (
        f"Profile '{config.profile}' on {ctx.device} ({results['machine']}), "
        f"{total / 60:.1f} minutes in all. Every section says how its numbers were made."
    )
    html = render_report("fashionlab demo report", intro, done, summary)
    atomic_write_bytes(out / "report.html", html.encode("utf-8"))
    atomic_write_json(out / "results.json", results)
    log("")
    log(format_summary(summary))
    log(f"\nreport: {out / 'report.html'}  numbers: {out / 'results.json'}  "
        f"({total / 60:.1f} min)")
    return results


def _section_json(section: Section) -> dict[str, Any]:
    return {
        "title": section.title,
        "status": section.status,
        "how": section.how,
        "text": section.text,
        "seconds": section.seconds,
        "numbers": section.numbers,
        "table": section.table,
        "figures": {caption: str(path) for caption, path in section.figures},
    }


def summary_rows(sections: list[Section]) -> list[dict[str, Any]]:
    """One row per section: status, wall time and its headline numbers."""
    rows = []
    for s in sections:
        headline = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in list(s.numbers.items())[:3]
        )
        rows.append({"section": s.title, "status": s.status, "seconds": s.seconds,
                     "headline": headline if s.status == "ok" else s.text[:80]})
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary table as plain text for the console."""
    lines = [f"{'section':<40} {'status':<8} {'seconds':>8}  headline"]
    for r in rows:
        lines.append(f"{r['section'][:40]:<40} {r['status']:<8} {r['seconds']:>8.1f}  "
                     f"{r['headline']}")
    return "\n".join(lines)
