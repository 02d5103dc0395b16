"""``fashionlab impute fit`` and ``impute apply``: fit on a history file once, fill new files.

Every statistic comes from the history file: ``apply`` only reads the new file's cells to
fill them (and to check that its columns and units are the history's). Time-series
methods need rows in time order: a text column whose every cell is a date or time is
checked for order and duplicates, in the history and in each new file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, make_imputer
from fashionlab.impute.csv_io import Table, read_table, write_table
from fashionlab.impute.persist import load_imputer, save_imputer
from fashionlab.impute.table import check_output_path
from fashionlab.options import format_key_values, option

TIME_SERIES = ("locf", "interpolate", "nearest-station", "window-gain")
UNITS_STDS = 10.0  # a new column whose mean is this many history stds away: other units


@dataclass
class ImputeFitConfig:
    """What ``fashionlab impute fit`` does."""

    input: Path = option(help="history CSV file to fit on (never written)", positional=True)
    out: Path = option(help="model folder to write (a new folder)")
    method: str = option("interpolate", f"one of: {', '.join(IMPUTERS)} (those that can be "
                         "saved: mean, median, knn, locf, interpolate, nearest-station, "
                         "window-gain)")
    seed: int = option(0, "seeds the imputer")
    params: dict = option(factory=dict, flag="--param",
                          help="a keyword argument of the imputer, VALUE as JSON (repeatable)")


@dataclass
class ImputeApplyConfig:
    """What ``fashionlab impute apply`` does."""

    model: Path = option(help="model folder written by `fashionlab impute fit`", positional=True)
    input: Path = option(help="CSV file to fill (never written)", positional=True)
    out: Path = option(help="CSV file to write (must not exist, see --force)")
    force: bool = option(False, "overwrite an existing --out file")
    flags: bool = option(False, "add a <column>_imputed column (1 = filled) for each column "
                         "with gaps")


def check_time_order(table: Table, path: Path) -> None:
    """A text column of dates must be strictly increasing: no row out of order, no repeat."""
    numeric = set(table.numeric)
    for j, name in enumerate(table.header):
        if j in numeric:
            continue
        cells = pd.Series([row[j] for row in table.rows])
        times = pd.to_datetime(cells, errors="coerce", format="mixed")
        if times.isna().any():
            continue  # not a time column
        repeated = np.flatnonzero(times.duplicated().to_numpy())
        if len(repeated):
            raise FashionlabError(f"{path}: time {cells[repeated[0]]!r} in column {name!r} "
                                  f"appears twice (data row {repeated[0] + 1}); a time-series "
                                  "method needs one row per time")
        back = np.flatnonzero(np.diff(times.to_numpy()) < np.timedelta64(0))
        if len(back):
            i = int(back[0]) + 1
            raise FashionlabError(f"{path}: data row {i + 1} ({cells[i]!r}) comes before the "
                                  f"row above it in column {name!r}; sort the rows by time")


def _columns(table: Table) -> list[str]:
    return [table.header[j] for j in table.numeric]


def fit_model(config: ImputeFitConfig) -> dict:
    """Fit ``config.method`` on the history file and save it to ``config.out``."""
    if config.method not in IMPUTERS:
        raise FashionlabError(f"unknown imputation method {config.method!r}; choose one of: "
                              f"{', '.join(IMPUTERS)}")
    imputer = make_imputer(config.method, config.params, config.seed)
    out = Path(config.out).expanduser()
    if (out / "model.json").exists():
        raise FashionlabError(f"{out} already holds a model; choose another --out")
    path = Path(config.input).expanduser()
    table = read_table(path)
    if config.method in TIME_SERIES:
        check_time_order(table, path)
    try:
        imputer.fit(table.values)
    except (ValueError, TypeError) as exc:
        given = f" with {format_key_values(config.params)}" if config.params else ""
        raise FashionlabError(f"{config.method}{given}: {exc}") from exc
    with np.errstate(all="ignore"):
        stats = {"mean": np.nanmean(table.values, axis=0).tolist(),
                 "std": np.nanstd(table.values, axis=0).tolist()}
    save_imputer(imputer, out, _columns(table), stats)
    return {"method": config.method, "rows": len(table.rows), "columns": len(table.numeric),
            "out": out}


def check_columns(table: Table, meta: dict, path: Path) -> None:
    """The new file's numeric columns are the history's, in order, and in its units."""
    columns, fitted = _columns(table), meta["columns"]
    if columns != fitted:
        missing = [c for c in fitted if c not in columns]
        other = [c for c in columns if c not in fitted]
        detail = (f"it lacks {', '.join(map(repr, missing[:3]))}" if missing else
                  f"it has {', '.join(map(repr, other[:3]))} the model was not fitted on"
                  if other else "they are in another order")
        raise FashionlabError(f"{path}: the numeric columns differ from the ones the model was "
                              f"fitted on ({len(fitted)} columns): {detail}")
    mean, std = (np.asarray(meta["statistics"].get(k, []), float) for k in ("mean", "std"))
    if len(mean) == len(columns):
        with np.errstate(all="ignore"):
            new = np.nanmean(table.values, axis=0)
        far = np.abs(new - mean) > UNITS_STDS * np.where(std > 0, std, 1.0)
        if far.any():
            k = int(np.flatnonzero(far)[0])
            raise FashionlabError(
                f"{path}: column {columns[k]!r} looks like other units: its mean {new[k]:.4g} "
                f"is over {UNITS_STDS:g} history standard deviations from the history's "
                f"{mean[k]:.4g}; convert it to the history's units")


def apply_model(config: ImputeApplyConfig) -> dict:
    """Fill the new file with the model folder's fitted imputer (no statistic of the new file
    enters the model)."""
    imputer, meta = load_imputer(Path(config.model).expanduser())
    path = Path(config.input).expanduser()
    out = check_output_path(path, config.out, config.force)
    table = read_table(path)
    check_columns(table, meta, path)
    if meta["method"] in TIME_SERIES:
        check_time_order(table, path)
    filled = imputer.transform(table.values)
    cells = write_table(table, filled, out, config.flags)
    return {"method": meta["method"], "cells": cells, "rows": len(table.rows), "out": out}
