"""Fitted scikit-learn parts as plain arrays, and predictors that read them (no pickle).

A saved model (:mod:`fashionlab.impute.persist`) must load without unpickling, and
scikit-learn's forests, regressors and ``IterativeImputer`` have no other saved form. So
they are saved as the arrays that define them, and loaded as the small predictors here,
which compute exactly what scikit-learn computes from those arrays:

* :class:`ArrayForest`: a tree ensemble (``tree_.children_left/right``, ``feature``,
  ``threshold``, ``value`` of every tree); a row goes left where its value, read as
  float32 as scikit-learn's trees read it, is ``<=`` the float64 threshold; the trees'
  predictions are summed in order and divided by their count, as ``ForestRegressor`` does;
* :class:`ArrayLinear`: a linear regressor (``coef_``, ``intercept_``);
* :class:`ArrayIterative`: ``IterativeImputer.transform`` replayed (initial fill with the
  column statistics, then every round's regressor in its order, clipped to the bounds);
  one difference: scikit-learn fills an input whose every cell is missing with the column
  statistics alone, this runs the rounds on it too, so that a row is filled the same
  whatever rows come with it (a chunk of empty rows, in ``impute apply``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.impute import IterativeImputer
from sklearn.linear_model import BayesianRidge, LinearRegression, Ridge

FOREST_KEYS = ("roots", "left", "right", "feature", "threshold", "value")
LINEAR_KEYS = ("coef", "intercept")


@dataclass
class ArrayForest:
    """A regression tree ensemble as arrays: all trees' nodes in one table.

    ``roots[t]`` is tree t's first node; ``left``/``right`` index the whole table (-1 at
    a leaf), ``feature``/``threshold`` split an inner node, ``value`` is a leaf's output.
    """

    roots: np.ndarray  # (n_trees,) int64
    left: np.ndarray  # (n_nodes,) int64
    right: np.ndarray  # (n_nodes,) int64
    feature: np.ndarray  # (n_nodes,) int64
    threshold: np.ndarray  # (n_nodes,) float64
    value: np.ndarray  # (n_nodes,) float64

    @classmethod
    def from_sklearn(cls, forest) -> ArrayForest:
        """The arrays of a fitted single-output scikit-learn forest regressor."""
        parts = {key: [] for key in FOREST_KEYS}
        offset = 0
        for tree in forest.estimators_:
            t = tree.tree_
            leaf = t.children_left < 0
            parts["roots"].append(offset)
            parts["left"].append(np.where(leaf, -1, t.children_left + offset))
            parts["right"].append(np.where(leaf, -1, t.children_right + offset))
            parts["feature"].append(np.where(leaf, 0, t.feature))
            parts["threshold"].append(t.threshold)
            parts["value"].append(t.value[:, 0, 0])
            offset += t.node_count
        roots = np.asarray(parts.pop("roots"), dtype=np.int64)
        joined = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(roots, *(joined[k].astype(np.int64) for k in ("left", "right", "feature")),
                   joined["threshold"].astype(np.float64), joined["value"].astype(np.float64))

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays, by name (``FOREST_KEYS``)."""
        return {key: getattr(self, key) for key in FOREST_KEYS}

    def check(self) -> None:
        """A ValueError unless the arrays form trees (a damaged file fails here, not later)."""
        n = len(self.left)
        sizes = {len(getattr(self, k)) for k in FOREST_KEYS[1:]}
        links = np.concatenate([self.left, self.right, self.roots])
        if sizes != {n} or links.min(initial=-1) < -1 or links.max(initial=0) >= n \
                or not len(self.roots) or (self.left == -1).sum() != (self.right == -1).sum():
            raise ValueError("its forest arrays do not form trees")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Each row's prediction: the mean of the trees' leaf values."""
        X = np.asarray(X, dtype=np.float32)  # scikit-learn's trees read float32
        n, trees = len(X), len(self.roots)
        node = np.repeat(self.roots, n)  # (trees * n,): entry t * n + i is row i in tree t
        row = np.tile(np.arange(n), trees)
        active = np.flatnonzero(self.left[node] >= 0)
        while active.size:
            here = node[active]
            go_left = X[row[active], self.feature[here]] <= self.threshold[here]
            node[active] = np.where(go_left, self.left[here], self.right[here])
            active = active[self.left[node[active]] >= 0]
        leaves = self.value[node].reshape(trees, n)
        total = np.zeros(n)
        for values in leaves:  # in order, as ForestRegressor adds its trees up
            total += values
        return total / trees


@dataclass
class ArrayLinear:
    """A fitted linear regressor: ``X @ coef + intercept``."""

    coef: np.ndarray  # (n_features,)
    intercept: np.ndarray  # (1,)

    @classmethod
    def from_sklearn(cls, model) -> ArrayLinear:
        """The coefficients of a fitted single-output scikit-learn linear model."""
        return cls(np.asarray(model.coef_, dtype=np.float64),
                   np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64)))

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays, by name (``LINEAR_KEYS``)."""
        return {"coef": self.coef, "intercept": self.intercept}

    def check(self) -> None:
        """A ValueError unless the arrays are a coefficient vector and one intercept."""
        if self.coef.ndim != 1 or self.intercept.shape != (1,):
            raise ValueError("its linear model arrays have the wrong shapes")

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``X @ coef + intercept``, as scikit-learn's linear models compute it."""
        return X @ self.coef + self.intercept[0]


REGRESSORS = {"forest": (ArrayForest, (ExtraTreesRegressor, RandomForestRegressor)),
              "linear": (ArrayLinear, (BayesianRidge, LinearRegression, Ridge))}


def as_arrays(model) -> tuple[str, ArrayForest | ArrayLinear] | None:
    """(kind, array predictor) for a fitted scikit-learn regressor this module reads, or an
    array predictor itself; None for anything else."""
    for kind, (cls, sklearn_types) in REGRESSORS.items():
        if isinstance(model, cls):
            return kind, model
        if isinstance(model, sklearn_types):
            return kind, cls.from_sklearn(model)
    return None


def from_arrays(kind: str, arrays: dict[str, np.ndarray]) -> ArrayForest | ArrayLinear:
    """The predictor of ``kind`` ("forest" or "linear") from its arrays; a ValueError when
    they are not one."""
    cls = REGRESSORS[kind][0]
    keys = FOREST_KEYS if cls is ArrayForest else LINEAR_KEYS
    model = cls(*(arrays[k] for k in keys))
    model.check()
    return model


@dataclass
class ArrayIterative:
    """``sklearn.impute.IterativeImputer.transform`` from its fitted arrays.

    ``statistics`` is the initial fill of each column; ``steps`` lists, round after round,
    (column, columns it is predicted from, predictor); ``low``/``high`` clip predictions.
    """

    statistics: np.ndarray
    steps: list[tuple[int, np.ndarray, ArrayForest | ArrayLinear]]
    rounds: int
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_sklearn(cls, imputer: IterativeImputer) -> ArrayIterative:
        """The arrays of a fitted imputer (mean, median or constant initial fill, no
        ``sample_posterior``, no empty column)."""
        if imputer.sample_posterior or imputer.add_indicator or imputer._is_empty_feature.any():
            raise TypeError("IterativeImputer with sample_posterior, add_indicator or empty "
                            "columns")
        steps = []
        for step in imputer.imputation_sequence_:
            found = as_arrays(step.estimator)
            if found is None:
                raise TypeError(f"IterativeImputer's {type(step.estimator).__name__}")
            steps.append((int(step.feat_idx), np.asarray(step.neighbor_feat_idx, np.int64),
                          found[1]))
        return cls(imputer.initial_imputer_.statistics_.astype(np.float64), steps,
                   int(imputer.n_iter_), np.asarray(imputer._min_value, np.float64),
                   np.asarray(imputer._max_value, np.float64))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Fill the NaN of ``X`` as the fitted ``IterativeImputer`` does."""
        X = np.asarray(X, dtype=np.float64, order="F")  # its layout, so sums match bit for bit
        missing = np.isnan(X)
        filled = np.asfortranarray(np.where(missing, self.statistics, X))
        # scikit-learn also stops here when every cell of X is missing; not done here, so
        # that a row's fill never depends on the other rows given with it (apply in chunks)
        if self.rounds == 0:
            return filled
        for column, others, model in self.steps:
            rows = missing[:, column]
            if rows.any():
                values = model.predict(filled[:, others][rows])
                filled[rows, column] = np.clip(values, self.low[column], self.high[column])
        filled[~missing] = X[~missing]
        return filled
