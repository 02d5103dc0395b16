"""Scoring methods on hidden cells of a table: ``--evaluate`` and ``--method auto``.

Cells are hidden with a gap pattern (:mod:`fashionlab.impute.patterns`) or taken from a
mask file, every method fills the same input, and each is scored on the hidden cells only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import make_imputer
from fashionlab.impute.masking import minmax_errors
from fashionlab.impute.patterns import apply_mask, pattern_mask
from fashionlab.options import format_key_values


def fit_fill(method: str, params: dict | None, random_state: int,
             values: np.ndarray) -> np.ndarray:
    """``values`` filled by a new ``method`` imputer; a parameter value it refuses (the
    imputer raises ValueError or TypeError) becomes a FashionlabError that names it, and so
    does a fill that is not finite (a cell a reader of the file would refuse)."""
    imputer = make_imputer(method, params, random_state)
    given = f" with {format_key_values(params)}" if params else ""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # judged on the result below
            filled = imputer.fit_transform(values)
    except (ValueError, TypeError) as exc:
        raise FashionlabError(f"{method}{given}: {exc}") from exc
    if not np.isfinite(filled).all():
        raise FashionlabError(f"{method}{given} filled cells with values that are not finite "
                              "numbers (an overflow); rescale the large columns, or choose "
                              "another --method")
    return filled


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

