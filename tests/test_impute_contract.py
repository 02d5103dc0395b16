"""The imputer contract, run over every plain-table imputer: scikit-learn's checks and ours."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fashionlab.errors import FashionlabError
from fashionlab.impute import IMPUTERS, get_imputer_class, hide_completely_at_random
from fashionlab.impute.timeseries import _TimeSeriesImputer

# Small settings so that the whole suite stays fast; the defaults are exercised by the benchmark.
FAST = {
    "missforest": {"n_estimators": 5, "max_iter": 2},
    "mice": {"max_iter": 3},
    "gain": {"n_iterations": 60, "batch_size": 32, "n_generators": 2, "forest_trees": 5},
    "mixture-forest": {"forest_trees": 5},
}
# Every registered plain-table imputer (time-series imputers have their own tests): one
# registered later is covered without being listed here.
TABLE_METHODS = [m for m, cls in IMPUTERS.items() if not issubclass(cls, _TimeSeriesImputer)]


def make(name: str, **kwargs):
    cls = get_imputer_class(name)
    params = {**FAST.get(name, {}), **kwargs}
    if "random_state" in cls().get_params():
        params.setdefault("random_state", 0)
    return cls(**params)


# check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API=1 is set;
# the imputers work on numpy arrays only, so no check is skipped on our side.
@parametrize_with_checks([make(name) for name in TABLE_METHODS])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def correlated_table(n: int = 120, seed: int = 0) -> np.ndarray:
    """Four correlated columns of very different scales, one of them integer-valued."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    return np.hstack([
        1e-3 * (z + 0.1 * rng.normal(size=(n, 1))),  # tiny scale
        1e6 + 1e5 * (z + 0.1 * rng.normal(size=(n, 1))),  # huge scale and offset
        np.round(10 * z + 50),  # integers
        rng.normal(size=(n, 1)),  # noise
    ])


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_observed_values_are_never_altered(name):
    X = correlated_table()
    X_missing, hidden = hide_completely_at_random(X, 0.3, random_state=1)
    filled = make(name).fit_transform(X_missing)
    observed = ~np.isnan(X_missing)
    assert np.array_equal(filled[observed], X_missing[observed])  # bit for bit
    assert not np.isnan(filled).any()
    assert np.isnan(X_missing[hidden]).all()  # the input array was not filled in place


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_scales_and_integer_columns(name):
    X = correlated_table()
    X_missing, hidden = hide_completely_at_random(X, 0.3, random_state=2)
    filled = make(name).fit_transform(X_missing)
    for j in range(X.shape[1]):
        column = X_missing[:, j]
        lo, hi = np.nanmin(column), np.nanmax(column)
        # every filled value lies within the column's observed range (a margin for kNN/MICE)
        margin = 0.5 * (hi - lo)
        assert np.all(filled[:, j] >= lo - margin) and np.all(filled[:, j] <= hi + margin), j
    integer = filled[:, 2]
    assert np.array_equal(integer, np.round(integer))


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_column_with_no_observed_value_is_a_clear_error(name):
    X = correlated_table(30)
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match="column 1 has no observed value"):
        make(name).fit(X)


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_no_missing_value_comes_back_unchanged(name):
    X = correlated_table(40)
    imputer = make(name).fit(X)
    assert np.array_equal(imputer.transform(X), X)
    X_new, _ = hide_completely_at_random(correlated_table(20, seed=5), 0.2, random_state=0)
    assert not np.isnan(imputer.transform(X_new)).any()  # fitted on complete data, still fills


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_infinity_is_an_error(name):
    X = correlated_table(30)
    X[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        make(name).fit(X)


@pytest.mark.parametrize("name", TABLE_METHODS)
def test_works_in_a_pipeline(name):
    rng = np.random.default_rng(0)
    X = correlated_table(90)
    y = X[:, 2] + rng.normal(size=len(X))
    X_missing, _ = hide_completely_at_random(X, 0.1, random_state=0)
    pipe = make_pipeline(make(name), StandardScaler(), Ridge())
    scores = cross_val_score(pipe, X_missing, y, cv=3)
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.5


def test_other_missing_value_marker():
    X = np.array([[1.0, -1.0], [3.0, 4.0], [-1.0, 8.0], [5.0, 6.0]])
    filled = make("mean", missing_values=-1).fit_transform(X)
    assert filled[2, 0] == 3.0 and filled[0, 1] == 6.0


def test_the_suite_covers_every_plain_table_imputer():
    assert {"mean", "median", "knn", "mice", "missforest", "gain", "mixture-forest"} == set(
        TABLE_METHODS)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(FashionlabError, match="choose one of: mean, median"):
        get_imputer_class("magic")
