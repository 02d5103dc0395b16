"""Fit once, apply many: a fitted imputer saved to a folder and loaded back, never unpickled.

A model folder holds ``model.json`` (format and version, the method's name and parameters,
the history's numeric columns and their statistics, and the fitted attributes that are
plain values) and ``arrays.safetensors`` (every fitted array and network weight). Loading
rebuilds the imputer from its parameters and sets those attributes back; a scikit-learn
part is rebuilt by refitting it on saved arrays that give the same fitted state (a column
statistic, kNN's stored rows). Every problem is one ``FashionlabError``.

Methods whose fitted state has no pickle-free form yet (``gain``'s forests, ``mice``,
``missforest``, ``mixture-forest``) are refused when saved, with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from sklearn.impute import KNNImputer, SimpleImputer

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, BaseImputer, make_imputer

FORMAT = "fashionlab-imputer"
VERSION = 1  # raise when the folder's layout changes: an older folder is then refused
MODEL_FILE, ARRAYS_FILE = "model.json", "arrays.safetensors"


def _method_name(imputer: BaseImputer) -> str:
    return next(name for name, cls in IMPUTERS.items() if type(imputer) is cls)


def save_imputer(imputer: BaseImputer, folder: str | Path, columns: list[str],
                 statistics: dict[str, list[float]] | None = None) -> Path:
    """Write fitted ``imputer`` (fitted on ``columns``) to ``folder`` (created; must not hold a
    model yet). ``statistics`` (per-column lists, e.g. mean and std) travel with it."""
    folder = Path(folder)
    method = _method_name(imputer)
    plain, arrays = {}, {}
    for key, value in vars(imputer).items():
        if not key.endswith("_") or key.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, torch.nn.Module):
            plain[key] = {"module": True}
            for name, tensor in value.state_dict().items():
                arrays[f"{key}.{name}"] = tensor.detach().cpu().numpy()
        elif isinstance(value, SimpleImputer):
            plain[key] = {"simple": value.strategy}
            arrays[key] = value.statistics_[None, :]
        elif isinstance(value, KNNImputer):
            plain[key] = {"knn": True}
            arrays[key] = value._fit_X
        else:
            try:
                plain[key] = json.loads(json.dumps(value, default=_plain))
            except TypeError:
                raise FashionlabError(
                    f"method {method} cannot be saved yet: its fitted {key} "
                    f"({type(value).__name__}) has no pickle-free form; fit/apply supports "
                    "mean, median, knn, locf, interpolate, nearest-station, window-gain"
                ) from None
    params = json.loads(json.dumps(imputer.get_params(), default=_plain))
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / MODEL_FILE).exists():
        raise FashionlabError(f"{folder} already holds a model; choose another --out")
    # C order: safetensors writes an array's memory as it lies (a transposed view would swap)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / ARRAYS_FILE))
    meta = {"format": FORMAT, "version": VERSION, "method": method, "params": params,
            "columns": list(columns), "statistics": statistics or {}, "state": plain}
    (folder / MODEL_FILE).write_text(json.dumps(meta, indent=1))
    return folder


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    raise TypeError


def load_imputer(folder: str | Path) -> tuple[BaseImputer, dict]:
    """The fitted imputer saved in ``folder`` and its ``model.json`` (columns, statistics)."""
    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file():
        raise FashionlabError(f"{folder} is not a model folder (no {MODEL_FILE}); make one "
                              "with `fashionlab impute fit`")
    try:
        meta = json.loads((folder / MODEL_FILE).read_text())
        arrays = load_file(str(folder / ARRAYS_FILE))
    except (OSError, ValueError, SafetensorError) as exc:
        raise FashionlabError(f"model folder {folder} is damaged ({_first_line(exc)}); fit "
                              "it again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FashionlabError(f"{folder}/{MODEL_FILE} is not a fashionlab imputer model")
    if meta.get("version") != VERSION:
        raise FashionlabError(f"model folder {folder} is from another version (format "
                              f"{meta.get('version')!r}, this fashionlab reads {VERSION}); fit "
                              "it again")
    try:
        imputer = make_imputer(meta["method"], _params(meta["params"]))
        _restore(imputer, meta["state"], arrays)
    except (KeyError, TypeError, ValueError, RuntimeError, FashionlabError) as exc:
        raise FashionlabError(f"model folder {folder} is damaged ({_first_line(exc)}); fit "
                              "it again") from None
    return imputer, meta


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _params(params: dict) -> dict:
    """JSON turned NaN (``missing_values``) into null: give it back."""
    return {k: (np.nan if k == "missing_values" and v is None else v) for k, v in params.items()}


def _restore(imputer: BaseImputer, state: dict, arrays: dict[str, np.ndarray]) -> None:
    for key in [k for k in arrays if "." not in k and k not in state]:
        setattr(imputer, key, arrays[key])
    for key, value in state.items():
        if not isinstance(value, dict):
            setattr(imputer, key, value)
    networks = imputer._networks(int(imputer.n_features_in_)) if hasattr(
        imputer, "_networks") else {}
    for key, value in state.items():
        if not isinstance(value, dict):
            continue
        if value.get("module"):
            net = networks[key]
            prefix = f"{key}."
            net.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy())
                                 for k, v in arrays.items() if k.startswith(prefix)})
            setattr(imputer, key, net.eval())
        elif "simple" in value:
            setattr(imputer, key, SimpleImputer(strategy=value["simple"]).fit(arrays[key]))
        elif value.get("knn"):
            setattr(imputer, key, KNNImputer(n_neighbors=imputer.n_neighbors,
                                             weights=imputer.weights).fit(arrays[key]))
        else:
            setattr(imputer, key, value)  # a plain dict
    if hasattr(imputer, "statistics_") and imputer.statistics_ is not None:
        imputer.statistics_ = np.asarray(imputer.statistics_, dtype=float)
