"""Fit once, apply many: a fitted imputer saved to a folder and loaded back, never unpickled.

A model folder holds ``model.json`` (format and version, the method's name, the history's
numeric columns and their statistics, and the imputer itself as
:func:`fashionlab.impute.saved_state.encode` writes it: parameters, plain fitted values,
and references to arrays) and ``arrays.safetensors`` (every fitted array and network
weight; its SHA-256 is in ``model.json``, so a damaged file is found when it is loaded,
not when a fill goes wrong). scikit-learn parts come back as the array predictors of
:mod:`fashionlab.impute.array_models` or refitted on saved arrays that give the same
fitted state (a column statistic, kNN's stored rows). Every problem is one
``FashionlabError``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer
from fashionlab.impute.saved_state import decode, encode, method_name

FORMAT = "fashionlab-imputer"
VERSION = 2  # raise when the folder's layout changes: an older folder is then refused
MODEL_FILE, ARRAYS_FILE = "model.json", "arrays.safetensors"


def save_imputer(imputer: BaseImputer, folder: str | Path, columns: list[str],
                 statistics: dict[str, list[float]] | None = None) -> Path:
    """Write fitted ``imputer`` (fitted on ``columns``) to ``folder`` (created; must not hold a
    model yet). ``statistics`` (per-column lists, e.g. mean and std) travel with it."""
    folder = Path(folder)
    method = method_name(imputer)
    arrays: dict[str, np.ndarray] = {}
    try:
        model = encode(imputer, "model", arrays)
    except TypeError as exc:
        raise FashionlabError(f"method {method} cannot be saved: {exc} has no pickle-free "
                              "form") from None
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / MODEL_FILE).exists():
        raise FashionlabError(f"{folder} already holds a model; choose another --out")
    # C order: safetensors writes an array's memory as it lies (a transposed view would swap)
    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    (folder / ARRAYS_FILE).write_bytes(data)
    meta = {"format": FORMAT, "version": VERSION, "method": method, "columns": list(columns),
            "statistics": statistics or {}, "arrays_sha256": hashlib.sha256(data).hexdigest(),
            "model": model}
    (folder / MODEL_FILE).write_text(json.dumps(meta, indent=1))
    return folder


def load_imputer(folder: str | Path) -> tuple[BaseImputer, dict]:
    """The fitted imputer saved in ``folder`` and its ``model.json`` (columns, statistics)."""
    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file():
        raise FashionlabError(f"{folder} is not a model folder (no {MODEL_FILE}); make one "
                              "with `fashionlab impute fit`")
    damaged = f"model folder {folder} is damaged"
    try:
        meta = json.loads((folder / MODEL_FILE).read_text())
        data = (folder / ARRAYS_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        raise FashionlabError(f"{damaged} ({_first_line(exc)}); fit it again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FashionlabError(f"{folder}/{MODEL_FILE} is not a fashionlab imputer model")
    if meta.get("version") != VERSION:
        raise FashionlabError(f"model folder {folder} is from another version (format "
                              f"{meta.get('version')!r}, this fashionlab reads {VERSION}); fit "
                              "it again")
    if hashlib.sha256(data).hexdigest() != meta.get("arrays_sha256"):
        raise FashionlabError(f"{damaged} ({ARRAYS_FILE} is not the file it was saved with); "
                              "fit it again")
    try:
        imputer = decode(meta["model"], load(data))
        if not isinstance(imputer, BaseImputer) or method_name(imputer) != meta["method"]:
            raise ValueError("its model is not the saved method")
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, StopIteration,
            SafetensorError, FashionlabError) as exc:
        raise FashionlabError(f"{damaged} ({_first_line(exc)}); fit it again") from None
    return imputer, meta


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
