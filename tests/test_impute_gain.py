"""GainImputer's own behaviour: averaged generators, drop-rate ranges, seeding, parameter checks.

The scikit-learn contract (estimator checks, observed values kept, scales, integer
columns, pipelines) is covered for every imputer in test_impute_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionlab.impute import GainImputer, hide_completely_at_random
from fashionlab.impute.gain import NOISE
from fashionlab.impute.masking import minmax_errors

FAST = {"n_iterations": 150, "batch_size": 32}


def correlated(n: int = 150, seed: int = 0) -> np.ndarray:
    """Five columns driven by one factor, so a missing cell is predictable from the others."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    return z @ rng.normal(size=(1, 5)) + 0.1 * rng.normal(size=(n, 5)) + np.arange(5) * 10


def test_filling_is_the_mean_of_the_generators():
    X_missing, _ = hide_completely_at_random(correlated(), 0.2, random_state=0)
    imputer = GainImputer(**FAST, n_generators=3, random_state=0).fit(X_missing)
    assert len(imputer.generators_) == 3
    assert {h["generator"] for h in imputer.history_} == {0, 1, 2}
    x, given = imputer._scaled(X_missing)
    x_in = given * x + (1 - given) * (NOISE / 2)
    with torch.no_grad():
        each = [g(x_in, given).double().numpy() * imputer.span_ + imputer.low_
                for g in imputer.generators_]
    assert not np.allclose(each[0], each[1])  # different seeds, different generators
    missing = np.isnan(X_missing)
    filled = imputer.transform(X_missing)
    np.testing.assert_allclose(filled[missing], np.mean(each, axis=0)[missing], rtol=1e-5)


def test_random_state_makes_fit_repeatable():
    X_missing, _ = hide_completely_at_random(correlated(), 0.2, random_state=1)
    params = {**FAST, "n_generators": 2, "drop_rate": (0.1, 0.5)}
    a = GainImputer(**params, random_state=3).fit_transform(X_missing)
    b = GainImputer(**params, random_state=3).fit_transform(X_missing)
    c = GainImputer(**params, random_state=4).fit_transform(X_missing)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("drop_rate", [0.0, 0.3, (0.1, 0.5), [0.2, 0.2]])
def test_drop_rate_as_a_number_or_a_range_beats_the_column_mean(drop_rate):
    X = correlated(200)
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=2)
    filled = GainImputer(
        n_iterations=400, batch_size=64, n_generators=1, drop_rate=drop_rate, random_state=0
    ).fit_transform(X_missing)
    mean_filled = np.where(np.isnan(X_missing), np.nanmean(X_missing, axis=0), X_missing)
    gain = minmax_errors(X, filled, hidden)["rmse"]
    mean = minmax_errors(X, mean_filled, hidden)["rmse"]
    assert gain < 0.7 * mean, (gain, mean)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"drop_rate": 1.0}, "drop_rate"),
        ({"drop_rate": (0.5, 0.1)}, "drop_rate"),
        ({"drop_rate": (-0.1, 0.5)}, "drop_rate"),
        ({"n_generators": 0}, "n_generators"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"n_iterations": 0}, "n_iterations"),
        ({"hint_rate": 1.5}, "hint_rate"),
    ],
)
def test_bad_parameters_are_rejected_in_fit(params, message):
    imputer = GainImputer(**{**FAST, **params})  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        imputer.fit(correlated(20))
