"""Plain-table baselines in the imputer API: mean, median, kNN, MICE-like, MissForest-like.

Each wraps the scikit-learn imputer that defines it, so the numbers are those of
the reference implementation; :class:`~fashionlab.impute.base.BaseImputer`
adds the shared contract (validation, observed values kept, integer columns
rounded, all-missing columns rejected) so every method behaves the same way.

``IMPUTERS`` (re-exported here) maps each registered name to its class.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (enables the import below)
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import BayesianRidge
from sklearn.tree import ExtraTreeRegressor

from fashionlab.impute.base import IMPUTERS, BaseImputer, draw_seed, register_imputer
from fashionlab.impute.progress import bar, tick

KNN_CHUNK = 2000  # rows filled at a time by the kNN imputer (one progress step)

__all__ = [
    "IMPUTERS",
    "KNearestImputer",
    "MeanImputer",
    "MedianImputer",
    "MiceImputer",
    "MissForestImputer",
]


class _WrappedImputer(BaseImputer):
    """Fills with a fitted scikit-learn imputer stored in ``imputer_``."""

    def _make(self, rng: np.random.Generator):
        raise NotImplementedError

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self.imputer_ = self._make(rng).fit(X)

    def _impute(self, X: np.ndarray) -> np.ndarray:
        return self.imputer_.transform(X)


class _ColumnStatisticImputer(_WrappedImputer):
    """Fills each column with one statistic of its observed values (``_strategy``)."""

    _strategy: str

    def __init__(self, *, missing_values: float = np.nan, round_integers: bool = True):
        self.missing_values = missing_values
        self.round_integers = round_integers

    def _make(self, rng):
        return SimpleImputer(strategy=self._strategy)


@register_imputer("mean")
class MeanImputer(_ColumnStatisticImputer):
    """Fill each column with the mean of its observed values.

    Parameters
    ----------
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.

    Attributes
    ----------
    imputer_ : sklearn.impute.SimpleImputer
        The fitted scikit-learn imputer.
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    """

    _strategy = "mean"


@register_imputer("median")
class MedianImputer(_ColumnStatisticImputer):
    """Fill each column with the median of its observed values. Parameters and attributes
    as ``MeanImputer``."""

    _strategy = "median"


@register_imputer("knn")
class KNearestImputer(_WrappedImputer):
    """Fill a cell with the mean of that column over the ``n_neighbors`` nearest rows.

    Distances are scikit-learn's ``nan_euclidean`` over the columns both rows
    observe (``sklearn.impute.KNNImputer``), by default on values min-max scaled
    per column so that no column dominates because of its unit.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbouring rows used for each filled cell.
    weights : {"uniform", "distance"}, default="uniform"
        Weight of each neighbour.
    scale : bool, default=True
        Scale each column to [0, 1] on its observed values before measuring
        distances, so that no column dominates because of its unit.
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.

    Attributes
    ----------
    imputer_ : sklearn.impute.KNNImputer
        The fitted scikit-learn imputer (on scaled values when ``scale``).
    low_, span_ : ndarray of shape (n_features,)
        Observed minimum and range of each column (used when ``scale``).
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    """

    def __init__(
        self, *, n_neighbors: int = 5, weights: str = "uniform", scale: bool = True,
        missing_values: float = np.nan, round_integers: bool = True,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.scale = scale
        self.missing_values = missing_values
        self.round_integers = round_integers

    def _fit(self, X, rng):
        self.low_ = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - self.low_
        self.span_ = np.where(span > 0, span, 1.0)
        if not self.scale:
            self.low_, self.span_ = np.zeros_like(self.low_), np.ones_like(self.span_)
        imputer = KNNImputer(n_neighbors=self.n_neighbors, weights=self.weights)
        self.imputer_ = imputer.fit((X - self.low_) / self.span_)

    def _impute(self, X):
        scaled = (X - self.low_) / self.span_
        rows = range(0, len(X), KNN_CHUNK)  # each row's neighbours are found on their own
        with bar(len(X), "fill: nearest rows", "row") as progress:
            parts = []
            for start in rows:
                parts.append(self.imputer_.transform(scaled[start : start + KNN_CHUNK]))
                progress.update(len(parts[-1]))
        return np.concatenate(parts) * self.span_ + self.low_


class _CountedTree(ExtraTreeRegressor):
    """An extra tree that ticks the progress bar once grown: MissForest's unit of work (one
    column's forest on 100,000 rows takes minutes, too long a step for a bar)."""

    def _fit(self, *args, **kwargs):
        fitted = super()._fit(*args, **kwargs)
        tick()
        return fitted


class _CountedForest(ExtraTreesRegressor):
    """scikit-learn's ExtraTreesRegressor, growing ``_CountedTree``s (the same trees)."""

    def _validate_estimator(self, default=None):
        super()._validate_estimator(default)
        self.estimator_ = _CountedTree()


class _CountedIterativeImputer(IterativeImputer):
    """scikit-learn's IterativeImputer, ticking a progress bar (``fashionlab.impute.progress``)
    at each column it regresses, or at each tree a ``_CountedForest`` grows: a long fit
    shows how far it is and the time left."""

    def fit_transform(self, X, y=None, **params):
        trees = getattr(self.estimator, "n_estimators", 1)
        counted = trees if isinstance(self.estimator, _CountedForest) else 1
        rounds = f"at most {self.max_iter} rounds of {np.shape(X)[1]} columns"
        with bar(self.max_iter * np.shape(X)[1] * counted, f"fit ({rounds})",
                 "tree" if counted > 1 else "column"):
            return super().fit_transform(X, y, **params)

    def transform(self, X):
        with bar(len(getattr(self, "imputation_sequence_", ())), "fill", "column"):
            return super().transform(X)

    def _impute_one_feature(self, *args, fit_mode=True, **kwargs):
        result = super()._impute_one_feature(*args, fit_mode=fit_mode, **kwargs)
        if not (fit_mode and isinstance(self.estimator, _CountedForest)):  # trees tick there
            tick()
        return result


class _Iterative(_WrappedImputer):
    def _fit(self, X, rng):
        super()._fit(X, rng)
        self.n_iter_ = self.imputer_.n_iter_


@register_imputer("mice")
class MiceImputer(_Iterative):
    """Iterative imputation, MICE-like: each column regressed on the others with BayesianRidge.

    Parameters
    ----------
    max_iter : int, default=10
        Rounds over all columns.
    tol : float, default=1e-3
        Stopping tolerance of ``sklearn.impute.IterativeImputer``.
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of imputation and the regressors.

    Attributes
    ----------
    imputer_ : sklearn.impute.IterativeImputer
        The fitted scikit-learn imputer.
    n_iter_ : int
        Rounds run before the stopping criterion was met.
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    """

    def __init__(
        self, *, max_iter: int = 10, tol: float = 1e-3, missing_values: float = np.nan,
        round_integers: bool = True, random_state=None,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    def _make(self, rng):
        return _CountedIterativeImputer(
            estimator=BayesianRidge(), max_iter=self.max_iter, tol=self.tol,
            random_state=draw_seed(rng),
        )


@register_imputer("missforest")
class MissForestImputer(_Iterative):
    """MissForest-like: iterative imputation with an extra-trees forest per column.

    Parameters
    ----------
    n_estimators : int, default=100
        Trees per forest (MissForest's default).
    max_iter : int, default=10
        Rounds over all columns (MissForest's default cap).
    min_samples_leaf : int, default=1
        Smallest leaf of each tree.
    n_jobs : int or None, default=None
        Parallel jobs for each forest (scikit-learn's meaning).
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.
    random_state : int, RandomState instance or None, default=None
        Seeds the forests and the order of imputation.

    Attributes
    ----------
    imputer_ : sklearn.impute.IterativeImputer
        The fitted scikit-learn imputer.
    n_iter_ : int
        Rounds run before the stopping criterion was met.
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    """

    def __init__(
        self, *, n_estimators: int = 100, max_iter: int = 10, min_samples_leaf: int = 1,
        n_jobs: int | None = None, missing_values: float = np.nan, round_integers: bool = True,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.max_iter = max_iter
        self.min_samples_leaf = min_samples_leaf
        self.n_jobs = n_jobs
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    def _make(self, rng):
        forest = _CountedForest(
            n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
            n_jobs=self.n_jobs, random_state=draw_seed(rng),
        )
        return _CountedIterativeImputer(
            estimator=forest, max_iter=self.max_iter, initial_strategy="mean",
            random_state=draw_seed(rng),
        )
