"""The run folder: one folder per run holding its config, metrics log, weights and figures.

Layout::

    RUN/config.json        what was run (kind, model name and arguments, trainer settings)
    RUN/metrics.jsonl      one JSON object per epoch
    RUN/model.safetensors  weights (loading never executes code from a file)
    RUN/scores.json        the final scores (classifier and inpainting runs)
    RUN/checkpoint.pt      what --resume needs (classifier and GAN runs; runtime/checkpoints.py)
    RUN/figures/*.png      figures

    RUN/.fashionlab-run    the marker: this folder was written by a fashionlab run
    RUN/.fashionlab-lock   held (flock) by the process training into the folder

Every file is written atomically (``fashionlab.runtime.files``), so a run killed at any
moment leaves either the old file or the new one, never half of one; the temporary
files a kill leaves behind are removed by the next run or ``--resume`` in the folder.
One process at a time trains into a folder: a second one is refused with the first
one's PID, and a lock left by a killed process is released by the system with it.
A new run in a folder that holds an earlier run replaces it (``Run.start``): the files
that runs write are removed first, so that figures, GIF frames and weights of two runs
never mix; other files are left alone, and a folder holding a config.json that no
fashionlab run wrote (no marker) is refused rather than touched.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save

from fashionlab.errors import FashionlabError
from fashionlab.runtime.files import (
    FILE_MODE,
    atomic_write_bytes,
    atomic_write_json,
    jsonable,
    prepare_output_dir,
)
from fashionlab.runtime.schema import check_fields

T = TypeVar("T")

CONFIG = "config.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
SCORES = "scores.json"
FIGURES = "figures"
MARKER = ".fashionlab-run"
LOCK = ".fashionlab-lock"
RUN_FILES = (CONFIG, METRICS, "*.safetensors", "checkpoint.pt", SCORES,
             f"{FIGURES}/*.png", f"{FIGURES}/*.gif", f"{FIGURES}/samples/epoch_*.png")


_HELD: dict[Path, int] = {}  # run folders this process has locked -> the lock file's fd


def lock_run_folder(path: Path) -> None:
    """Hold ``path``'s lock for the rest of this process (a trainer's lifetime), or raise
    a FashionlabError naming the process that holds it. The lock is an ``flock``: the
    system releases it when its process ends, however it ends, so no lock goes stale."""
    path = path.resolve()
    if path in _HELD:
        return
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise FashionlabError(f"{path} is in use by process {holder}: another training "
                              "writes there; wait for it or choose another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD[path] = fd


def remove_leftover_temp_files(path: Path) -> None:
    """Remove the temporary files (``.NAME.*.tmp``) a killed run left in its folder; only
    the lock's holder calls this, so no other writer's file can be among them."""
    for folder in (path, path / FIGURES, path / FIGURES / "samples"):
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


class Run:
    """Writes one run folder (see the module docstring): locks it and clears the
    temporary files of a killed run as it opens it."""

    def __init__(self, path: str | Path):
        self.path = prepare_output_dir(path)
        self.figures = self.path / FIGURES
        lock_run_folder(self.path)
        remove_leftover_temp_files(self.path)

    def figure(self, name: str) -> Path:
        """Path for figure ``name`` (creating the figures folder)."""
        self.figures.mkdir(exist_ok=True)
        return self.figures / name

    def start(self, config: Mapping[str, Any]) -> None:
        """Begin a new run here: remove an earlier run's files (``RUN_FILES``, only when
        the folder holds a run's config.json), write ``config`` and an empty metrics log.
        Called once the new run has its data and model, so that a run that fails to
        start leaves the earlier one whole."""
        if (self.path / MARKER).is_file():
            for pattern in RUN_FILES:
                for path in self.path.glob(pattern):
                    path.unlink()
        elif (self.path / CONFIG).exists():
            raise FashionlabError(
                f"{self.path} holds a {CONFIG} that no fashionlab run wrote (it has no "
                f"{MARKER} marker), so nothing there is replaced: choose another --out, or "
                "empty the folder")
        self._mark(config.get("kind"), finished=False)
        self.write_config(config)
        self.start_metrics()

    def reopen(self, kind: str) -> None:
        """Continue the run here (``--resume``): it is unfinished until ``finish``."""
        self._mark(kind, finished=False)

    def finish(self, kind: str) -> None:
        """The run wrote everything it writes (weights, scores, figures): a kill before
        this leaves a run that ``--resume`` completes."""
        self._mark(kind, finished=True)

    def _mark(self, kind: str | None, finished: bool) -> None:
        atomic_write_json(self.path / MARKER, {"kind": kind, "finished": finished})

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_json(self.path / CONFIG, dict(config))

    def start_metrics(self) -> None:
        """Start a fresh metrics log (a new run, not a resumed one)."""
        atomic_write_bytes(self.path / METRICS, b"")

    def keep_metrics_until(self, epoch: int, key: str = "epoch") -> list[dict[str, Any]]:
        """Drop the metrics rows after ``epoch`` (or the step, with ``key="step"``): a run
        resumed from there trains them again; returns the rows kept."""
        rows = [row for row in read_metrics(self.path) if row.get(key, 0) <= epoch]
        atomic_write_bytes(self.path / METRICS, "".join(
            json.dumps(row, default=jsonable) + "\n" for row in rows).encode())
        return rows

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one JSON line to the metrics log."""
        with open(self.path / METRICS, "a") as f:
            f.write(json.dumps(dict(row), default=jsonable) + "\n")

    def write_scores(self, scores: Mapping[str, Any]) -> None:
        """The run's final scores (scores.json), so that its result can be read later."""
        atomic_write_json(self.path / SCORES, dict(scores))

    def save_weights(self, tensors: Mapping[str, torch.Tensor], name: str = WEIGHTS) -> None:
        """Save a state dict as safetensors, atomically (as every other file of the run:
        safetensors' own ``save_file`` would write a 0600 temporary file of its own)."""
        atomic_write_bytes(self.path / name, save(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All rows of a run's metrics log."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # a run killed while appending its last row
                break
            raise FashionlabError(f"{path} line {number} is not JSON: the metrics log is "
                                  "damaged") from None
    return rows


@dataclass
class _RunKind:
    """What every run's config.json holds, whatever its kind."""

    kind: str  # classifier, gan, inpaint


def read_config(run_dir: str | Path, kind: str | None = None, schema: type | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a run's config.json, checking that the run is of ``kind`` when given, and,
    with ``schema`` (the run's config dataclass), that its settings have that class's
    types: those at the top level (and ``extra``, name -> type) and those of its
    "trainer" object (``fashionlab.runtime.schema``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FashionlabError(f"run folder {run_dir} does not exist")
    path = run_dir / CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise FashionlabError(f"{run_dir} is not a run folder: it has no {CONFIG}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FashionlabError(f"{path} is not valid JSON: {exc}") from None
    check_fields(_RunKind, config, str(path))
    if kind is not None and config.get("kind") != kind:
        found = str(config.get("kind", "unknown"))
        raise FashionlabError(f"{run_dir} is {_a(found)} {found} run, not {_a(kind)} {kind} run")
    if schema is not None:
        check_fields(schema, config, str(path), extra)
        if "trainer" in config:
            check_fields(schema, config["trainer"], f"{path} (trainer)")
    return config


def config_from(cls: type[T], stored: Mapping[str, Any], where: str = CONFIG) -> T:
    """The config dataclass ``cls`` from settings stored in a run's config.json (``where``
    names them in errors), each checked against the type of its field; a setting that
    ``cls`` no longer has (a run of an older version) is left out."""
    check_fields(cls, stored, where)
    names = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in stored.items() if key in names})


def run_finished(run_dir: str | Path) -> bool:
    """The run in ``run_dir`` wrote all its files (``Run.finish``). A run of a version
    before the marker counts as finished when it has its final scores or weights."""
    run_dir = Path(run_dir)
    try:
        marker = json.loads((run_dir / MARKER).read_text())
    except (OSError, ValueError):
        return any((run_dir / name).is_file()
                   for name in (SCORES, "generator.safetensors"))
    return isinstance(marker, dict) and marker.get("finished") is True


def is_run_config(path: Path) -> bool:
    """``path`` is a run's config.json (a JSON object with a "kind")."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "kind" in config


def _a(word: str) -> str:
    """The indefinite article of ``word``: "an inpaint", "a gan"."""
    return "an" if word[:1] in "aeiou" else "a"


def read_weights(run_dir: str | Path, name: str = WEIGHTS) -> dict[str, torch.Tensor]:
    """Load a run's safetensors weights (no code is executed); weights that are not all
    finite numbers are an error."""
    path = Path(run_dir) / name
    if not path.is_file():
        raise FashionlabError(f"{run_dir} has no weights ({name}); was the training finished?")
    try:
        state = load_file(path)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise FashionlabError(f"{path} is not a valid safetensors file: {exc}") from None
    for key, tensor in state.items():  # NaN weights would predict "nan%" and exit 0
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise FashionlabError(f"{path} holds weights that are not finite numbers (NaN or "
                                  f"infinity, in {key}): the training diverged; train the run "
                                  "again (a lower learning rate)")
    return state


def load_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``module`` strictly; a mismatch is a user error, not a traceback."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise FashionlabError(
            f"the weights of {what} do not match its config ({' '.join(first)})"
        ) from None

