"""Hiding observed cells and scoring imputations on them: shared by every imputation benchmark."""

from __future__ import annotations

import numpy as np


def hide_completely_at_random(
    X: np.ndarray, fraction: float, random_state: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hide ``fraction`` of the *observed* cells of ``X`` (NaN = missing).

    Returns ``(X_hidden, hidden)``: a copy of ``X`` with the chosen cells set to NaN,
    and a boolean mask of exactly those cells (the cells to score on).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(random_state)
    X = np.asarray(X, dtype=float)
    observed = np.flatnonzero(~np.isnan(X))
    chosen = rng.choice(observed, size=int(round(fraction * len(observed))), replace=False)
    hidden = np.zeros(X.size, dtype=bool)
    hidden[chosen] = True
    hidden = hidden.reshape(X.shape)
    X_hidden = X.copy()
    X_hidden[hidden] = np.nan
    return X_hidden, hidden


def masked_errors(X_true: np.ndarray, X_imputed: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MSE and MRE (sum |error| / sum |truth|, as SAITS) on the cells in ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("the mask selects no cell to score")
    truth = np.asarray(X_true, dtype=float)[mask]
    guess = np.asarray(X_imputed, dtype=float)[mask]
    if np.isnan(guess).any():
        raise ValueError("the imputation left missing values in the scored cells")
    error = guess - truth
    mse = float(np.mean(error**2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(mse)),
        "mse": mse,
        "mre": float(np.sum(np.abs(error)) / np.sum(np.abs(truth))),
        "cells": int(mask.sum()),
    }


def minmax_errors(X_true: np.ndarray, X_imputed: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """``masked_errors`` on values min-max scaled per column, as GAIN reports its RMSE.

    Each column is scaled with the minimum and maximum of its observed cells in
    ``X_true`` (NaN = not observed), so every column weighs the same whatever its unit.
    """
    X_true = np.asarray(X_true, dtype=float)
    low = np.nanmin(X_true, axis=0)
    span = np.nanmax(X_true, axis=0) - low
    span = np.where(span > 0, span, 1.0)
    return masked_errors((X_true - low) / span, (np.asarray(X_imputed, float) - low) / span, mask)
