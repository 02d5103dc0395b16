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

Parameters are checked declaratively, in ``fit`` (scikit-learn's rule: ``__init__`` only
stores them): a subclass lists a :class:`Rule` per parameter in ``_parameter_rules``, and
:func:`check_parameters` raises one ``ValueError`` naming the first parameter that breaks
its rule (``"n_folds must be 0 or an integer >= 2, got 1"``).

The registry maps a short name (``"mean"``, ``"gain"``...) to an imputer class,
for the CLI's ``--method`` and for the benchmarks: decorate a class with
``@register_imputer("name")``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from fashionlab.errors import FashionlabError, spoken_list
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


class Rule(NamedTuple):
    """What a parameter must be: ``accepts(value)``, described for the error message."""

    description: str  # completes "NAME must be ..."
    accepts: Callable[[object], bool]


def is_integer(value) -> bool:
    """``value`` is an integer, not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value) -> bool:
    """``value`` is a real number (not a bool, not NaN)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and not np.isnan(value))


def whole(low: int) -> Rule:
    """An integer (not a bool) of at least ``low``."""
    return Rule("a positive integer" if low == 1 else f"an integer >= {low}",
                lambda v: is_integer(v) and v >= low)


def number_in(low: float, high: float, closed: bool = True) -> Rule:
    """A real number in [low, high] (``closed=False``: [low, high))."""
    shown = "infinity" if high == np.inf else f"{high:g}"
    return Rule(f"a number in [{low:g}, {shown}{']' if closed else ')'}",
                lambda v: is_number(v) and low <= v and (v <= high if closed else v < high))


def one_of(*options) -> Rule:
    """One of ``options`` (compared with ``==``)."""
    return Rule(spoken_list(list(map(repr, options)), "or"), lambda v: v in options)


def either(first: Rule, second: Rule) -> Rule:
    """``first`` or ``second``."""
    return Rule(f"{first.description} or {second.description}",
                lambda v: first.accepts(v) or second.accepts(v))


def optional(rule: Rule) -> Rule:
    """None, or what ``rule`` accepts."""
    return either(one_of(None), rule)


NONZERO_INTEGER = Rule("a nonzero integer", lambda v: is_integer(v) and v != 0)


def check_parameters(estimator: object, rules: dict[str, Rule]) -> None:
    """Raise a ``ValueError`` for the first parameter (in ``rules``' order) its rule refuses."""
    for name, rule in rules.items():
        value = getattr(estimator, name)
        if not rule.accepts(value):
            raise ValueError(f"{name} must be {rule.description}, got {value!r}")


def draw_seed(rng: np.random.Generator) -> int:
    """An int seed (for torch, scikit-learn or k-means) drawn from our Generator."""
    return int(rng.integers(0, 2**31 - 1))


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
    # What each parameter must be, checked in ``fit`` by ``check_parameters`` (in this order).
    _parameter_rules: ClassVar[dict[str, Rule]] = {}

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
            with no observed value (drop that column or fill it first), or a
            parameter breaks its rule in ``_parameter_rules``.
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
        check_parameters(self, self._parameter_rules)
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


class MinMaxImputer(BaseImputer):
    """An imputer that works on each column scaled to [0, 1] by its observed range (so columns
    of any scale weigh the same): ``_fit_scaling`` in ``_fit``, then ``_scaled``."""

    def _fit_scaling(self, X: np.ndarray) -> None:
        self.low_ = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - self.low_
        self.span_ = np.where(span > 0, span, 1.0)

    def _scaled(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(values scaled to [0, 1] with 0 in the gaps, observed mask) as float32 tensors."""
        observed = ~np.isnan(X)
        scaled = np.where(observed, (X - self.low_) / self.span_, 0.0)
        return torch.from_numpy(scaled.astype(np.float32)), torch.from_numpy(
            observed.astype(np.float32)
        )

    def _unscaled(self, x: torch.Tensor) -> np.ndarray:
        """Scaled values back in the columns' units, float64."""
        return x.double().numpy() * self.span_ + self.low_
