"""What every imputer shares: input validation, the scikit-learn contract, a name registry.

An imputer subclasses :class:`BaseImputer` and writes two hooks:

* ``_fit(X, rng)``: learn from ``X`` (float64, NaN = missing, already validated);
* ``_impute(X)``: return an array of the same shape with every NaN replaced.

:class:`BaseImputer` does the rest, the same way for every imputer: it validates
the input (2-D, numeric, float, no infinity, ``missing_values`` turned into NaN),
rejects a column with no observed value in ``fit``, copies the observed values
back unchanged after ``_impute`` (so no imputer can alter them, even by a
rounding error), rounds the filled cells of integer columns, and checks in
``transform`` that the imputer was fitted and sees as many columns as in ``fit``.

The registry maps a short name (``"mean"``, ``"gain"``...) to an imputer class,
for the CLI's ``--method`` and for the benchmarks: decorate a class with
``@register_imputer("name")``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from fashionlab.errors import FashionlabError
from fashionlab.options import format_key_values

IMPUTERS: dict[str, type[BaseImputer]] = {}
"""Registered imputers: name -> class (filled by ``register_imputer``)."""


def register_imputer(name: str) -> Callable[[type], type]:
    """Class decorator: register an imputer class under ``name``."""

    def decorator(cls: type) -> type:
        if name in IMPUTERS and IMPUTERS[name] is not cls:
            raise ValueError(f"imputer {name!r} is registered twice")
        IMPUTERS[name] = cls
        return cls

    return decorator


def imputer_names() -> list[str]:
    """Names of every registered imputer, in registration order."""
    return list(IMPUTERS)


def get_imputer_class(name: str) -> type[BaseImputer]:
    """The imputer class registered as ``name``; an unknown name lists the valid ones."""
    try:
        return IMPUTERS[name]
    except KeyError:
        valid = ", ".join(IMPUTERS)
        raise FashionlabError(
            f"unknown imputation method {name!r}; choose one of: {valid}"
        ) from None


def make_imputer(name: str, params: dict | None = None,
                 random_state: int | None = None) -> BaseImputer:
    """The imputer registered as ``name``, built with ``params`` (its keyword arguments).

    ``random_state`` seeds it when it draws random numbers (a ``random_state`` in
    ``params`` wins). A parameter the imputer does not have is an error that lists
    the ones it has, with their defaults; values are checked when it is fitted.
    """
    cls = get_imputer_class(name)
    defaults = cls().get_params()
    params = dict(params or {})
    unknown = [key for key in params if key not in defaults]
    if unknown:
        raise FashionlabError(
            f"imputer {name!r} has no parameter {unknown[0]!r}; its parameters and their "
            f"defaults: {format_key_values(defaults)}"
        )
    if random_state is not None and "random_state" in defaults:
        params.setdefault("random_state", random_state)
    return cls(**params)


def is_missing_nan(missing_values: object) -> bool:
    """True when ``missing_values`` is NaN (float NaN or ``np.nan``)."""
    return isinstance(missing_values, numbers.Real) and np.isnan(missing_values)


def integer_columns(X: np.ndarray) -> np.ndarray:
    """Boolean (n_features,): columns whose observed values are all whole numbers."""
    observed = ~np.isnan(X)
    whole = np.where(observed, X == np.round(X), True)
    return whole.all(axis=0) & observed.any(axis=0)


class BaseImputer(TransformerMixin, BaseEstimator):
    """Base class of the fashionlab imputers (see the module docstring).

    Subclasses define ``__init__`` with keyword-only parameters that it only
    stores (scikit-learn's rule), including ``missing_values``,
    ``round_integers`` and, when they draw random numbers, ``random_state``.
    """

    # Parameters every subclass is expected to have; defaults used when one does not.
    missing_values: float = np.nan
    round_integers: bool = True
    random_state: int | np.random.RandomState | None = None

    # ------------------------------------------------------------------ hooks

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _impute(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ public API

    def fit(self, X, y=None):
        """Learn what is needed to fill missing values in data like ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data; missing cells are ``missing_values`` (NaN by default).
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted imputer.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D numeric data, holds infinity, or has a column
            with no observed value (drop that column or fill it first).
        """
        X = self._validate(X, reset=True)
        empty = np.flatnonzero(np.isnan(X).all(axis=0))
        if len(empty):
            raise ValueError(
                f"column {int(empty[0])} has no observed value ({len(empty)} such column(s)); "
                "drop it or fill it before imputing"
            )
        self.integer_columns_ = (
            integer_columns(X) if self.round_integers else np.zeros(X.shape[1], dtype=bool)
        )
        self._fit(X, self._rng())
        return self

    def transform(self, X):
        """Fill the missing cells of ``X``; observed cells come back unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with as many columns as the data given to ``fit``.

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            A float copy of ``X`` with every missing cell filled; in columns that
            held only whole numbers in ``fit``, the filled cells are rounded.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        missing = np.isnan(X)
        if not missing.any():
            return X
        filled = np.asarray(self._impute(X), dtype=X.dtype)
        if filled.shape != X.shape:
            raise RuntimeError(f"{type(self).__name__}._impute returned shape {filled.shape}")
        if self.round_integers and self.integer_columns_.any():
            cols = self.integer_columns_
            filled[:, cols] = np.round(filled[:, cols])
        out = X.copy()
        out[missing] = filled[missing]
        if np.isnan(out).any():
            raise RuntimeError(f"{type(self).__name__} left missing values")
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ helpers

    def _validate(self, X, reset: bool) -> np.ndarray:
        """2-D float array with NaN for missing; infinity and non-numeric data raise."""
        nan_missing = is_missing_nan(self.missing_values)
        X = validate_data(
            self, X, reset=reset, dtype=FLOAT_DTYPES, copy=True,
            ensure_all_finite="allow-nan" if nan_missing else True,
        )
        if not nan_missing:
            if np.isnan(X).any():
                raise ValueError(
                    f"X holds NaN but missing_values={self.missing_values!r}; "
                    "use missing_values=np.nan"
                )
            X[X == self.missing_values] = np.nan
        return X

    def _rng(self) -> np.random.Generator:
        """A numpy Generator seeded from ``random_state`` (int, RandomState or None)."""
        state = self.random_state
        if isinstance(state, np.random.RandomState):
            return np.random.default_rng(state.randint(0, 2**31 - 1))
        if isinstance(state, np.random.Generator):
            return state
        return np.random.default_rng(state)
