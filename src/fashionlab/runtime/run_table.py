"""`fashionlab runs`: every run folder under a folder, one line each, read from its files.

A run is a folder whose config.json names a kind (classifier, gan, inpaint). Its line
says what it is, how far it trained, its result (scores.json, else the metrics log)
and whether a plain ``--resume`` would do something (train more, or finish a killed run). Nothing is
loaded but JSON, so the table is instant even for large models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fashionlab.errors import FashionlabError
from fashionlab.runtime.checkpoints import CHECKPOINT
from fashionlab.runtime.runs import CONFIG, SCORES, is_run_config, read_metrics, run_finished


def find_runs(folders: list[str | Path]) -> list[Path]:
    """The run folders in or under ``folders`` (each may itself be a run), sorted."""
    found = set()
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FashionlabError(f"{folder} is not a folder")
        for config in folder.rglob(CONFIG):  # the folder's own config.json too
            if is_run_config(config):
                found.add(config.parent)
    return sorted(found)


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """What `fashionlab runs` shows of one run: kind, model, progress, result, resumable."""
    config, scores = _json(run_dir / CONFIG), _json(run_dir / SCORES)
    rows = read_metrics(run_dir)
    kind = config["kind"]
    trainer = config.get("trainer", config)  # an inpaint run stores its settings at the top
    if kind == "inpaint":
        progress = f"{scores.get('steps', '?')}/{trainer.get('steps', '?')} steps"
    else:
        progress = f"{len(rows)}/{trainer.get('epochs', '?')} epochs"
    if scores.get("stopped_by_user"):
        progress += " (Ctrl-C)"
    return {"run": str(run_dir), "kind": kind, "model": config.get("model", "?"),
            "progress": progress, "result": _result(kind, scores, rows),
            "resumable": _resume_would_act(run_dir, trainer, rows)}


def _resume_would_act(run_dir: Path, trainer: dict[str, Any], rows: list[dict]) -> bool:
    """A plain ``--resume`` would train or finish something: the run has a checkpoint and
    is unfinished (killed), or stopped before its epochs with time budget left."""
    if not (run_dir / CHECKPOINT).is_file():
        return False
    if not run_finished(run_dir):
        return True
    budget = trainer.get("time_budget") or 0
    spent = bool(budget) and rows and rows[-1].get("train_seconds", 0) >= budget
    return len(rows) < (trainer.get("epochs") or 0) and not spent


def _result(kind: str, scores: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    if kind == "classifier" and "test_accuracy" in scores:
        val = scores.get("validation_accuracy")
        return f"test {scores['test_accuracy']:.4f}" + (f", val {val:.4f}" if val else "")
    if kind == "classifier" and rows and not math.isnan(rows[-1].get("val_accuracy", math.nan)):
        return f"val {rows[-1]['val_accuracy']:.4f} (last epoch; no final scores)"
    if kind == "inpaint" and "test" in scores:
        gain, nearest = scores["test"]["gain"]["rmse"], scores["test"]["nearest"]["rmse"]
        return f"test RMSE {gain:.4f} (nearest neighbour {nearest:.4f})"
    if kind == "gan" and rows:
        fids = [row for row in rows if row.get("fid") is not None]
        if fids:
            best = min(fids, key=lambda row: row["fid"])
            return f"best subset FID {best['fid']:.2f} (epoch {best['epoch']})"
        return f"loss_g {rows[-1]['loss_g']:.3f}, loss_d {rows[-1]['loss_d']:.3f}"
    return "-"


def format_run_table(summaries: list[dict[str, Any]]) -> str:
    """The table `fashionlab runs` prints."""
    header = {"run": "run", "kind": "kind", "model": "model", "progress": "trained",
              "result": "result", "resumable": "resume"}
    lines = [header] + [{**s, "resumable": "yes" if s["resumable"] else "-"} for s in summaries]
    widths = {key: max(len(str(line[key])) for line in lines) for key in header}
    return "\n".join("  ".join(f"{str(line[key]):<{widths[key]}}" for key in header).rstrip()
                     for line in lines)


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when it is missing or not a JSON object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
