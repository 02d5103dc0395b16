"""MixtureForestImputer alone: GAIN's starting fill as an imputer of its own.

The scikit-learn contract is covered for it in test_impute_contract.py; the parts (the
mixture, the forests, the folds) are tested through GainImputer in test_impute_gain.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from fashionlab.cli import main
from fashionlab.impute import (
    GainImputer,
    MixtureForestImputer,
    get_imputer_class,
    hide_completely_at_random,
)
from fashionlab.impute.masking import minmax_errors
from test_impute_gain import curved  # columns that bend: a normal misses the bends

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {"forest_trees": 10}


def test_it_is_registered_and_fills_better_than_the_column_mean_and_the_mixture_alone():
    assert get_imputer_class("mixture-forest") is MixtureForestImputer
    X = curved(240, seed=1)
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=9)
    mean = np.where(np.isnan(X_missing), np.nanmean(X_missing, axis=0), X_missing)
    errors = {"mean": minmax_errors(X, mean, hidden)["rmse"]}
    for weight in (0.0, 0.5):
        imputer = MixtureForestImputer(**FAST, n_components=1, forest_weight=weight,
                                       random_state=0)
        filled = imputer.fit_transform(X_missing)
        assert np.array_equal(filled[~hidden], X_missing[~hidden])
        errors[weight] = minmax_errors(X, filled, hidden)["rmse"]
    assert imputer.fold_forests_ is not None and len(imputer.fold_forests_) == 5
    assert errors[0.0] < errors["mean"] and errors[0.5] < 0.9 * errors[0.0], errors


def test_gains_starting_fill_is_this_imputer_fitted_on_the_same_draws():
    X_missing, _ = hide_completely_at_random(curved(90), 0.2, random_state=3)
    gain = GainImputer(n_iterations=5, batch_size=16, n_generators=1, forest_trees=10,
                       start_blend=0.25, start_folds=3, round_integers=False,
                       random_state=0).fit(X_missing)
    alone = MixtureForestImputer(forest_trees=10, forest_weight=0.25, n_folds=3,
                                 round_integers=False, random_state=0)
    assert isinstance(gain.start_fill_, MixtureForestImputer)
    assert np.array_equal(gain.start_fill_.transform(X_missing), alone.fit_transform(X_missing))
    # without training (a learning rate of 0) GAIN's generator leaves that fill as it is
    still = GainImputer(n_iterations=5, batch_size=16, n_generators=1, forest_trees=10,
                        start_blend=0.25, start_folds=3, learning_rate=0.0,
                        round_integers=False, random_state=0).fit(X_missing)
    span = np.nanmax(X_missing, 0) - np.nanmin(X_missing, 0)
    np.testing.assert_allclose(still.transform(X_missing), alone.transform(X_missing),
                               rtol=0, atol=1e-6 * span.max())
    assert GainImputer(start="noise", n_iterations=5, n_generators=1).fit(
        X_missing).start_fill_ is None


def test_filled_values_stay_in_each_columns_observed_range():
    X = curved(120, seed=2)
    X[:, 4] = X[:, 0] * 1e6  # far outside the others' scale, linear in column 0
    X_missing, hidden = hide_completely_at_random(X, 0.3, random_state=4)
    filled = MixtureForestImputer(**FAST, power_transform=None, random_state=0).fit_transform(
        X_missing)
    low, high = np.nanmin(X_missing, 0), np.nanmax(X_missing, 0)
    assert ((filled >= low) & (filled <= high)).all()
    assert minmax_errors(X, filled, hidden)["rmse"] < 0.2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_folds": 1}, "n_folds must be 0 or an integer >= 2, got 1"),
        ({"forest_weight": 1.5}, "forest_weight must be a number in \\[0, 1\\], got 1.5"),
        ({"power_transform": "log"}, "power_transform must be None or 'yeo-johnson'"),
        ({"n_components": 0}, "n_components must be 'auto' or a positive integer, got 0"),
        ({"forest_trees": True}, "forest_trees must be a positive integer, got True"),
        ({"n_jobs": 0}, "n_jobs must be None or a nonzero integer, got 0"),
    ],
)
def test_bad_parameters_are_rejected_in_fit(params, message):
    imputer = MixtureForestImputer(**params)  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        imputer.fit(curved(20))


def test_the_command_line_fills_a_file_with_it(tmp_path, capsys):
    X_missing, _ = hide_completely_at_random(curved(60), 0.1, random_state=5)
    src = tmp_path / "in.csv"
    rows = [",".join("" if np.isnan(v) else f"{v:.4f}" for v in row) for row in X_missing]
    src.write_text("a,b,c,d,e\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    code = main(["impute", str(src), "--out", str(out), "--method", "mixture-forest",
                 "--param", "forest_trees=5", "--param", "n_folds=0"])
    assert code == 0, capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert len(lines) == 61 and all(cell for line in lines[1:] for cell in line.split(","))
    code = main(["impute", str(src), "--out", str(out), "--force", "--method",
                 "mixture-forest", "--param", "n_folds=1"])
    assert code == 2 and "n_folds must be 0 or an integer >= 2" in capsys.readouterr().err
