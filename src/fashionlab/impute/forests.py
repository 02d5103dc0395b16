"""Per-column extra-trees forests: the nonlinear half of MixtureForestImputer's fill.

Each column gets a forest that predicts it from the row's other cells of a complete
(already filled) table; a gap's blended fill is ``weight`` times that prediction plus the
rest times the fill it started from. MissForest fits such forests in rounds from column
means; here they fit once, on a good fill (the Gaussian mixture's).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor

from fashionlab.impute.array_models import ArrayForest

MAX_FEATURES = 0.5  # share of the other columns each split draws from


def split_columns(others: int, most: int | None) -> int:
    """How many of the ``others`` columns each split draws from: ``MAX_FEATURES`` of them
    (as scikit-learn rounds a fraction), at most ``most`` (None: no cap)."""
    share = max(1, int(MAX_FEATURES * others))
    return share if most is None else max(1, min(share, most))


def fit_column_forests(
    fill: np.ndarray, given: np.ndarray, trees: int, seed: int, most_columns: int | None = None,
    n_jobs: int | None = None,
) -> list[ExtraTreesRegressor | None]:
    """One forest per column of ``fill`` (rows x columns, no gap), fitted on the rows where
    ``given`` says the column was observed; None for a column observed in no row. Each
    split draws from ``split_columns(columns - 1, most_columns)`` of the other columns;
    ``n_jobs`` fit each forest's trees in parallel (the same trees)."""
    forests: list[ExtraTreesRegressor | None] = []
    features = split_columns(fill.shape[1] - 1, most_columns)
    for c in range(fill.shape[1]):
        target = given[:, c]
        forests.append(ExtraTreesRegressor(
            n_estimators=trees, max_features=features, random_state=seed, n_jobs=n_jobs,
        ).fit(np.delete(fill[target], c, 1), fill[target, c]) if target.any() else None)
    return forests


def blend_forest_fill(
    fill: np.ndarray, gaps: np.ndarray, forests: list[ExtraTreesRegressor | None],
    weight: float,
) -> np.ndarray:
    """``fill`` with each gap moved to ``weight`` x its column forest's prediction (from the
    row's other cells of ``fill``) + ``1 - weight`` x its value in ``fill``."""
    out = fill.copy()
    for c, forest in enumerate(forests):
        rows = gaps[:, c]
        if forest is not None and rows.any():
            predicted = forest_predict(forest, np.delete(fill[rows], c, 1))
            out[rows, c] = weight * predicted + (1 - weight) * fill[rows, c]
    return out


def forest_predict(forest: ExtraTreesRegressor | ArrayForest, X: np.ndarray) -> np.ndarray:
    """``forest.predict(X)`` without its per-tree input checks and job dispatch, which cost
    more than the trees themselves on the few thousand rows of one call (a forest loaded
    from a model folder is an ``ArrayForest``: the same predictions)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    if isinstance(forest, ArrayForest):
        return forest.predict(X)
    total = sum(tree.predict(X, check_input=False) for tree in forest.estimators_)
    return total / len(forest.estimators_)
