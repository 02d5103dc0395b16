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

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, make_imputer
from fashionlab.impute.chunked import CHUNK_ROWS, fill_file
from fashionlab.impute.csv_io import Table, read_table
from fashionlab.impute.persist import load_imputer, save_imputer
from fashionlab.impute.table import check_output_path
from fashionlab.impute.time_order import TIME_SERIES, check_time_order
from fashionlab.options import format_key_values, option


@dataclass
class ImputeFitConfig:
    """What ``fashionlab impute fit`` does."""

    input: Path = option(help="history CSV file to fit on (never written)", positional=True)
    out: Path = option(help="model folder to write (a new folder)")
    method: str = option("interpolate", f"one of: {', '.join(IMPUTERS)}")
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
    chunk_rows: int = option(CHUNK_ROWS, "rows read, filled and written at a time (memory "
                             "does not grow with the file)")


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
        check_time_order(path, table.header, table.rows, table.text_indexes)
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


def apply_model(config: ImputeApplyConfig) -> dict:
    """Fill the new file with the model folder's fitted imputer (no statistic of the new file
    enters the model), reading, filling and writing it in chunks of ``config.chunk_rows``
    rows (:mod:`fashionlab.impute.chunked`)."""
    imputer, meta = load_imputer(Path(config.model).expanduser())
    path = Path(config.input).expanduser()
    out = check_output_path(path, config.out, config.force)
    done = fill_file(imputer, meta, path, out, config.flags, config.chunk_rows,
                     exclusive=not config.force)
    return {"method": meta["method"], "cells": done["cells"], "rows": done["rows"], "out": out}
