"""Scoring methods on hidden cells of a table: ``--evaluate`` and ``--method auto``.

Cells are hidden with a gap pattern (:mod:`fashionlab.impute.patterns`) or taken from a
mask file, every method fills the same input, and each is scored on the hidden cells only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import make_imputer
from fashionlab.impute.masking import minmax_errors
from fashionlab.impute.patterns import apply_mask, pattern_mask
from fashionlab.options import format_key_values

WIDE = 30  # numeric columns of the widest table GainImputer's defaults were chosen on
AUTO = "auto"  # --method auto: the candidate below with the lowest RMSE on hidden cells
AUTO_METHODS = ("mean", "mice", "gain", "interpolate", "locf", "window-gain")
AUTO_FRACTION = 0.1  # share of the observed cells that --method auto hides to choose
AUTO_MIN_CELLS = 50  # fewer hidden cells than this choose nothing: auto then takes GAIN


def fit_fill(method: str, params: dict | None, random_state: int,
             values: np.ndarray) -> np.ndarray:
    """``values`` filled by a new ``method`` imputer; a parameter value it refuses (the
    imputer raises ValueError or TypeError) becomes a FashionlabError that names it."""
    imputer = make_imputer(method, params, random_state)
    try:
        return imputer.fit_transform(values)
    except (ValueError, TypeError) as exc:
        given = f" with {format_key_values(params)}" if params else ""
        raise FashionlabError(f"{method}{given}: {exc}") from exc


def evaluate_methods(
    values: np.ndarray, fraction: float | None, methods: Sequence[str], seed: int = 0,
    params: dict[str, dict] | None = None, say: Callable[[str], None] = lambda line: None,
    *, pattern: str = "random", mask: np.ndarray | None = None,
    columns: Sequence[str] | None = None, groups: Sequence[Sequence[int]] | None = None,
) -> list[dict]:
    """Hide cells (``fraction`` of the observed ones in ``pattern``, or the cells of ``mask``),
    fill them with each method, score each.

    ``params`` maps a method to its keyword arguments (default: the method's defaults);
    ``say`` gets a line as each method starts (``  gain...``); ``columns`` and ``groups``
    name the stations of the ``outage`` pattern.

    Errors are MAE and RMSE on values min-max scaled per column with the observed
    range (so they compare across columns and files), over the hidden cells only.
    """
    if mask is None:
        mask = pattern_mask(values, pattern, fraction, seed, columns=columns, groups=groups)
    hidden_values, hidden = apply_mask(values, mask)
    shown = f"--evaluate {fraction}" if fraction is not None else "the mask"
    if not hidden.any():
        raise FashionlabError(f"{shown} hides no observed cell; hide more")
    if np.isnan(hidden_values).all(axis=0).any():
        raise FashionlabError(f"{shown} empties a whole column; hide less")
    scores = []
    for name in methods:
        say(f"  {name}...")
        start = time.perf_counter()
        filled = fit_fill(name, (params or {}).get(name), seed, hidden_values)
        seconds = time.perf_counter() - start
        errors = minmax_errors(values, filled, hidden)
        scores.append({"method": name, "mae": errors["mae"], "rmse": errors["rmse"],
                       "cells": errors["cells"], "seconds": seconds})
    return scores


def auto_methods(columns: int) -> tuple[str, ...]:
    """The candidates of ``--method auto`` for a table of ``columns`` numeric columns: GAIN
    only up to ``WIDE`` columns (beyond, its fit takes minutes to tens of minutes)."""
    return tuple(m for m in AUTO_METHODS if m != "gain" or columns <= WIDE)


def choose_method(values: np.ndarray, seed: int = 0,
                  say: Callable[[str], None] = lambda line: None) -> tuple[str, list[dict], str]:
    """``--method auto``: hide ``AUTO_FRACTION`` of the observed cells, score every candidate
    on them, and return the one with the lowest RMSE, the scores, and a note ("" when the
    scores chose). A table too small to choose on (fewer than ``AUTO_MIN_CELLS`` hidden
    cells, or a column emptied by hiding) gets GAIN (MICE beyond ``WIDE`` columns), with
    the reason in the note."""
    candidates = auto_methods(values.shape[1])
    fallback = "gain" if "gain" in candidates else "mice"
    observed = int((~np.isnan(values)).sum())
    if observed * AUTO_FRACTION < AUTO_MIN_CELLS:
        needed = math.ceil(AUTO_MIN_CELLS / AUTO_FRACTION)
        return fallback, [], (f"chose {fallback} without scoring: {observed:,} observed cells "
                              f"are too few to choose on (it hides {AUTO_FRACTION:g} of them "
                              f"and needs {needed:,} to hide {AUTO_MIN_CELLS})")
    say(f"choosing a method (--method auto): scoring {', '.join(candidates)} on "
        f"{AUTO_FRACTION:g} of the {observed:,} observed cells...")
    try:
        scores = evaluate_methods(values, AUTO_FRACTION, candidates, seed, say=say)
    except FashionlabError as exc:
        return fallback, [], f"chose {fallback}: it could not score the methods ({exc})"
    return min(scores, key=lambda row: row["rmse"])["method"], scores, ""
