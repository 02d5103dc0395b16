"""GainImputer's own behaviour: the Gaussian starting fill, early stopping, averaged generators,
drop-rate ranges, seeding, parameter checks.

The scikit-learn contract (estimator checks, observed values kept, scales, integer
columns, pipelines) is covered for every imputer in test_impute_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionlab.impute import GainImputer, hide_completely_at_random
from fashionlab.impute.gain_training import generate
from fashionlab.impute.gaussian import (
    choose_components,
    fit_mixture,
    fit_yeo_johnson,
    mixture_expected_fill,
    mixture_fill,
    yeo_johnson,
    yeo_johnson_inverse,
)
from fashionlab.impute.masking import minmax_errors

FAST = {"n_iterations": 150, "batch_size": 32}


def correlated(n: int = 150, seed: int = 0) -> np.ndarray:
    """Five columns driven by one factor, so a missing cell is predictable from the others."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    return z @ rng.normal(size=(1, 5)) + 0.1 * rng.normal(size=(n, 5)) + np.arange(5) * 10


def test_filling_is_the_mean_of_the_generators():
    X_missing, _ = hide_completely_at_random(correlated(), 0.2, random_state=0)
    imputer = GainImputer(**FAST, n_generators=3, start_folds=0, random_state=0).fit(X_missing)
    assert len(imputer.generators_) == 3
    assert {h["generator"] for h in imputer.history_} == {0, 1, 2}
    x, given = imputer._scaled(X_missing)
    x_in = imputer.start_fill_.scaled_fill(x, given)  # the starting fill, G's input
    with torch.no_grad():  # each generator corrects the mixture's fill
        each = [generate(g, x_in, given, True).double().numpy() * imputer.span_ + imputer.low_
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


@pytest.mark.parametrize(
    ("drop_rate", "start"),
    [(0.0, "noise"), (0.3, "noise"), ((0.1, 0.5), "noise"), ([0.2, 0.2], "noise"),
     (0.0, "gaussian"), ((0.1, 0.5), "gaussian")],
)
def test_drop_rate_and_start_beat_the_column_mean(drop_rate, start):
    X = correlated(200)
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=2)
    filled = GainImputer(
        n_iterations=400, batch_size=64, n_generators=1, drop_rate=drop_rate, start=start,
        random_state=0,
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
        ({"start": "linear"}, "start"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": "many"}, "n_components"),
        ({"start_transform": "log"}, "start_transform"),
        ({"start_transform": "Yeo-Johnson"}, "start_transform"),
        ({"start_folds": 1}, "start_folds"),
        ({"start_folds": -2}, "start_folds"),
        ({"generator_input": "transformed"}, "generator_input"),
        ({"start_blend": 1.5}, "start_blend"),
        ({"start_blend": -0.1}, "start_blend"),
        ({"start_blend": "half"}, "start_blend"),
        ({"forest_trees": 0}, "forest_trees"),
        ({"hint_rate": "x"}, "hint_rate must be a number in \\[0, 1\\], got 'x'"),
        ({"drop_rate": "x"}, "drop_rate"),
        ({"drop_rate": (0.1, 0.2, 0.3)}, "drop_rate"),
        ({"drop_rate": np.array([0.5, 0.1])}, "drop_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"alpha": float("nan")}, "alpha"),
        ({"depth": 0}, "depth"),
        ({"hidden_size": 2.5}, "hidden_size"),
        ({"n_threads": 0}, "n_threads"),
        ({"batch_size": True}, "batch_size"),
        ({"max_seconds": -1}, "max_seconds"),
        ({"budget_clock": "gpu"}, "budget_clock must be 'wall' or 'cpu'"),
    ],
)
def test_bad_parameters_are_rejected_in_fit(params, message):
    imputer = GainImputer(**{**FAST, **params})  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        imputer.fit(correlated(20))


def test_one_component_fill_is_the_conditional_mean_of_the_normal():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    mean = rng.normal(size=4)
    x = rng.normal(size=(3, 4))
    given = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=float)
    filled = mixture_fill(torch.tensor(x), torch.tensor(given), torch.ones(1, dtype=torch.float64),
                          torch.tensor(mean)[None], torch.tensor(cov)[None]).numpy()
    g, m = [0, 2], [1, 3]  # first row: textbook formula mean_m + S_mg S_gg^-1 (x_g - mean_g)
    expected = mean[m] + cov[np.ix_(m, g)] @ np.linalg.solve(cov[np.ix_(g, g)], x[0, g] - mean[g])
    np.testing.assert_allclose(filled[0, m], expected, rtol=1e-8)
    np.testing.assert_array_equal(filled[0, g], x[0, g])
    np.testing.assert_allclose(filled[1], mean, rtol=1e-8)  # nothing given: the mean
    np.testing.assert_array_equal(filled[2], x[2])  # nothing to fill


def test_component_terms_match_the_textbook_formulas_for_every_pattern():
    """_component works through the precision matrix (systems the size of the gaps); each
    row's log density, fill and gap covariance must equal the given-block formulas."""
    from scipy.stats import multivariate_normal

    from fashionlab.impute.gaussian import _component

    rng = np.random.default_rng(3)
    d = 20
    a = rng.normal(size=(d, d))
    cov, mean = a @ a.T / d + 0.2 * np.eye(d), rng.normal(size=d)
    # rows with few, some and many gaps: the patterns are solved in several groups
    given = (rng.random((40, d)) > rng.choice([0.1, 0.4, 0.9], size=(40, 1))).astype(float)
    given[0], given[1] = 0, 1  # an empty row and a complete one
    x = rng.normal(size=(40, d)) * given
    patterns = torch.unique(torch.tensor(given), dim=0, return_inverse=True)
    log_p, filled, spread = _component(torch.tensor(x), torch.tensor(given), torch.tensor(mean),
                                       torch.tensor(cov), patterns)
    weights = torch.rand(len(patterns[0]), dtype=torch.float64)
    expected_sum = np.zeros((d, d))
    for i in range(len(x)):
        g, m = np.flatnonzero(given[i]), np.flatnonzero(given[i] == 0)
        s_gg, s_mg = cov[np.ix_(g, g)], cov[np.ix_(m, g)]
        density = multivariate_normal(mean[g], s_gg).logpdf(x[i, g]) if len(g) else 0.0
        np.testing.assert_allclose(log_p[i].item(), density, rtol=1e-9, atol=1e-9)
        fill = mean[m] + s_mg @ np.linalg.solve(s_gg, x[i, g] - mean[g]) if len(g) else mean
        np.testing.assert_allclose(filled[i, m].numpy(), fill, rtol=1e-9)
        gap_cov = np.zeros((d, d))
        gap_cov[np.ix_(m, m)] = cov[np.ix_(m, m)] - s_mg @ np.linalg.solve(s_gg, s_mg.T)
        p = patterns[1][i].item()
        np.testing.assert_allclose(spread.diagonal(d)[p].numpy(), np.diag(gap_cov), atol=1e-12)
        if i == np.flatnonzero(patterns[1].numpy() == p)[0]:  # once per pattern
            expected_sum += weights[p].item() * gap_cov
    np.testing.assert_allclose(spread.weighted_sum(weights, d).numpy(), expected_sum,
                               atol=1e-12)


def test_one_component_fit_recovers_a_normal_from_data_with_gaps():
    rng = np.random.default_rng(1)
    cov = np.array([[0.04, 0.03, 0.0], [0.03, 0.04, -0.01], [0.0, -0.01, 0.02]])
    mean = np.array([0.3, 0.5, 0.7])
    X = rng.multivariate_normal(mean, cov, size=5000)
    X_missing, _ = hide_completely_at_random(X, 0.3, random_state=1)
    observed = ~np.isnan(X_missing)
    weights, means, covs = fit_mixture(
        torch.tensor(np.nan_to_num(X_missing)), torch.tensor(observed, dtype=torch.float64), 1)
    assert weights.tolist() == [1.0]
    np.testing.assert_allclose(means[0].numpy(), mean, atol=0.01)
    np.testing.assert_allclose(covs[0].numpy(), cov, atol=0.004)


def test_early_stopping_keeps_the_best_checked_generator():
    X_missing, _ = hide_completely_at_random(correlated(300), 0.2, random_state=3)
    imputer = GainImputer(n_iterations=1000, batch_size=32, n_generators=2, n_iter_no_change=2,
                          validation_fraction=0.2, random_state=0).fit(X_missing)
    for k, stop in enumerate(imputer.stop_steps_):
        checks = [(h["step"], h["held_out_mse"]) for h in imputer.history_
                  if h["generator"] == k and "held_out_mse" in h]
        assert stop == min(checks, key=lambda c: c[1])[0]
        assert checks[-1][0] - stop <= 2 * 250  # stopped two checks after the best one
    full = GainImputer(n_iterations=300, batch_size=32, n_generators=1, validation_fraction=0.0,
                       random_state=0).fit(X_missing)
    assert full.stop_steps_ == [300]
    assert not any("held_out_mse" in h for h in full.history_)


def two_clusters(n: int = 400, seed: int = 0) -> np.ndarray:
    """Four columns, two well-separated groups whose columns relate in opposite ways."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    group = rng.random((n, 1)) < 0.5
    X = np.where(group, z @ [[1.0, 1.0, 1.0, 1.0]], z @ [[1.0, -1.0, 1.0, -1.0]] + 6)
    return X + 0.1 * rng.normal(size=(n, 4))


def test_mixture_follows_clusters_that_one_normal_averages_away():
    X = two_clusters()
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=1)
    observed = torch.tensor(~np.isnan(X_missing), dtype=torch.float64)
    x = torch.tensor(np.nan_to_num(X_missing))
    weights, means, covs = fit_mixture(x, observed, 2, seed=0)
    assert sorted(weights.tolist()) == pytest.approx([0.5, 0.5], abs=0.08)
    two = mixture_fill(x, observed, weights, means, covs).numpy()
    one = mixture_fill(x, observed, *fit_mixture(x, observed, 1)).numpy()
    error = {k: np.sqrt(np.mean((f[hidden] - X[hidden]) ** 2)) for k, f in (("1", one), ("2", two))}
    assert error["2"] < 0.5 * error["1"], error
    k, scores = choose_components(x, observed, seed=0)
    assert k in (2, 3) and min(scores[1:]) < 0.5 * scores[0], scores


def test_auto_components_is_stored_and_used_by_the_imputer():
    X_missing, _ = hide_completely_at_random(two_clusters(200), 0.2, random_state=2)
    imputer = GainImputer(**FAST, n_generators=1, random_state=0).fit(X_missing)
    fill = imputer.start_fill_
    assert fill.n_components_ in (2, 3) and len(fill.component_scores_) == 3
    assert fill.means_.shape == (fill.n_components_, 4)
    fixed = GainImputer(**FAST, n_generators=1, n_components=1, random_state=0).fit(X_missing)
    assert fixed.start_fill_.n_components_ == 1 and fixed.start_fill_.component_scores_ is None


def test_a_cpu_budget_is_shared_by_the_generators_after_the_start():
    X_missing, _ = hide_completely_at_random(correlated(200), 0.2, random_state=5)
    torch.optim.Adam([torch.zeros(1)])  # its first use imports a lot: not the test's budget
    imputer = GainImputer(n_iterations=10**7, batch_size=32, n_generators=2, start_folds=0,
                          start_blend=0.0, n_components=1, max_seconds=1.5, budget_clock="cpu",
                          random_state=0).fit(X_missing)
    assert len(imputer.stop_steps_) == 2 and all(0 < s < 10**7 for s in imputer.stop_steps_)
    assert not np.isnan(imputer.transform(X_missing)).any()


def test_a_budget_spent_by_the_start_leaves_its_fill():
    X_missing, _ = hide_completely_at_random(correlated(200), 0.2, random_state=6)
    imputer = GainImputer(n_iterations=500, batch_size=32, n_generators=2, start_folds=0,
                          start_blend=0.0, n_components=1, max_seconds=1e-9,
                          random_state=0).fit(X_missing)
    assert imputer.stop_steps_ == [0, 0]
    x, given = imputer._scaled(X_missing)
    base = imputer.start_fill_.scaled_fill(x, given).clamp(0, 1).double().numpy()
    missing = np.isnan(X_missing)
    np.testing.assert_allclose(imputer.transform(X_missing)[missing],
                               (base * imputer.span_ + imputer.low_)[missing], rtol=1e-5)


def test_early_stopping_can_keep_step_zero_the_mixture_fill():
    X_missing, _ = hide_completely_at_random(correlated(200), 0.2, random_state=4)
    # a learning rate this large wrecks G at once: every check is worse than no correction
    imputer = GainImputer(n_iterations=500, batch_size=32, n_generators=2, learning_rate=1.0,
                          validation_fraction=0.2, start_folds=0, random_state=0).fit(X_missing)
    assert imputer.stop_steps_ == [0, 0]
    for k in (0, 1):
        checks = [(h["held_out_mse"], h["step"]) for h in imputer.history_
                  if h["generator"] == k and "held_out_mse" in h]
        assert [step for _, step in checks] == [0, 250, 500] and min(checks)[1] == 0
    x, given = imputer._scaled(X_missing)
    base = imputer.start_fill_.scaled_fill(x, given)  # the mixture's expected fill, mapped back
    base = base.clamp(0, 1).double().numpy() * imputer.span_ + imputer.low_  # as G's output
    missing = np.isnan(X_missing)
    np.testing.assert_allclose(imputer.transform(X_missing)[missing], base[missing], rtol=1e-5)


def skewed(n: int = 300, seed: int = 0) -> np.ndarray:
    """Two normal columns and two log-normal ones (heavily right-skewed, like pollutants),
    driven by one factor: the skewed columns are a convex function of the normal ones."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    noisy = z + 0.3 * rng.normal(size=(n, 4))
    return np.hstack([noisy[:, :2], np.exp(noisy[:, 2:])])


def test_yeo_johnson_matches_scikit_learn_and_inverts():
    from sklearn.preprocessing import PowerTransformer

    X = skewed(200)
    x = torch.tensor((X - X.min(0)) / (X.max(0) - X.min(0)))
    observed = torch.ones_like(x)
    lambdas, mean, std = fit_yeo_johnson(x, observed)
    z = yeo_johnson(x, lambdas, mean, std)
    reference = PowerTransformer(method="yeo-johnson").fit_transform(x.numpy())
    np.testing.assert_allclose(z.numpy(), reference, atol=1e-8)
    np.testing.assert_allclose(yeo_johnson_inverse(z, lambdas, mean, std).numpy(), x.numpy(),
                               atol=1e-10)
    beyond = yeo_johnson_inverse(z + 100 * torch.sign(z), lambdas, mean, std)  # far out: clamped
    assert beyond.min() >= 0 and beyond.max() <= 1


def test_expected_fill_is_the_mean_of_the_back_transformed_normal():
    # one normal and back = exp: a gap's value is log-normal, its mean exp(m + v / 2)
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
    mean = torch.tensor([0.2, -0.3], dtype=torch.float64)
    z = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    given = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    filled = mixture_expected_fill(z, given, torch.ones(1, dtype=torch.float64), mean[None],
                                   cov[None], torch.exp).numpy()
    m = 0.2 + 0.6 / 0.5 * (1.0 + 0.3)  # first row: cell 0 given cell 1 = 1.0
    v = 1.0 - 0.6**2 / 0.5
    np.testing.assert_allclose(filled[0], [np.exp(m + v / 2), np.exp(1.0)], rtol=1e-9)
    np.testing.assert_allclose(filled[1], np.exp(mean.numpy() + np.diag(cov.numpy()) / 2),
                               rtol=1e-9)  # nothing given: the marginal means


def test_yeo_johnson_start_fills_skewed_columns_better():
    X = skewed(seed=1)
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=1)
    errors = {}
    for transform in (None, "yeo-johnson"):
        imputer = GainImputer(**FAST, n_generators=1, n_components=1, start_transform=transform,
                              random_state=0).fit(X_missing)
        x, given = imputer._scaled(X_missing)
        start = imputer._unscaled(imputer.start_fill_.scaled_fill(x, given))
        np.testing.assert_allclose(start[~hidden], X_missing[~hidden], atol=1e-5)  # given: kept
        errors[transform] = minmax_errors(X, start, hidden)["rmse"]
        filled = imputer.transform(X_missing)
        assert np.isfinite(filled).all() and (filled[hidden] >= X_missing[~hidden].min()).all()
    assert (imputer.start_fill_.lambdas_[2:] < 0).all()  # right skew: high values compressed
    assert errors["yeo-johnson"] < 0.9 * errors[None], errors


def test_a_two_valued_column_is_not_transformed():
    rng = np.random.default_rng(0)
    x = torch.tensor(np.c_[rng.random(100) ** 3, rng.integers(0, 2, 100)], dtype=torch.float64)
    lambdas, mean, std = fit_yeo_johnson(x, torch.ones_like(x))
    assert lambdas[0] < 0 and lambdas[1] == 1.0  # skewed: transformed; binary: kept linear
    np.testing.assert_allclose(yeo_johnson(x, lambdas, mean, std)[:, 1].numpy(),
                               (x[:, 1].numpy() - x[:, 1].mean().item()) / x[:, 1].std(
                                   unbiased=False).item(), atol=1e-10)


def test_a_mixture_on_few_distinct_rows_warns_nothing():
    # two distinct rows, three components: KMeans' ConvergenceWarning reached the user
    # of `fashionlab impute` on a small one-column file; EM copes, so it is silenced
    import warnings

    from fashionlab.impute.gaussian import fit_mixture

    x = torch.tensor([[0.0], [1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weights, means, covs = fit_mixture(x, torch.ones_like(x), 3, seed=0)
    assert torch.isfinite(means).all() and torch.isclose(weights.sum(), weights.new_tensor(1.0))


def test_start_folds_fill_each_training_row_from_a_mixture_fitted_without_it():
    X_missing, _ = hide_completely_at_random(correlated(90), 0.2, random_state=5)
    imputer = GainImputer(**FAST, n_generators=1, n_components=1, start_transform=None,
                          start_folds=3, start_blend=0, random_state=0).fit(X_missing)
    x, observed = imputer._scaled(X_missing)
    x64, observed64 = x.double(), observed.double()
    folds = imputer.start_fill_.row_folds_
    assert sorted(torch.bincount(folds).tolist()) == [30, 30, 30]
    rows = torch.arange(len(x))
    start = imputer.start_fill_.cross_fitted_fill(x, observed, rows)
    for f, mixture in enumerate(imputer.start_fill_.fold_mixtures_):
        out = folds != f
        expected = fit_mixture(x64[out], observed64[out], 1)  # one normal: no seed involved
        for fitted, reference in zip(mixture, expected, strict=True):
            torch.testing.assert_close(fitted, reference)
        fill = mixture_fill(x[~out], observed[~out], *mixture)
        torch.testing.assert_close(start[~out], fill)
    # the fill at filling time is the mixture fitted on every row; the default has no folds
    torch.testing.assert_close(imputer.start_fill_.scaled_fill(x, observed),
                               mixture_fill(x, observed, *fit_mixture(x64, observed64, 1)))
    assert not torch.allclose(start, imputer.start_fill_.scaled_fill(x, observed))
    with torch.no_grad():  # filling: G corrects each fold mixture's fill, then the average
        fills = [generate(imputer.generators_[0], imputer.start_fill_.scaled_fill(x, observed, f),
                          observed, True) for f in range(len(imputer.start_fill_.fold_mixtures_))]
    expected = torch.stack(fills).mean(0).double().numpy() * imputer.span_ + imputer.low_
    missing = np.isnan(X_missing)
    np.testing.assert_allclose(imputer.transform(X_missing)[missing], expected[missing],
                               rtol=1e-5)
    plain = GainImputer(**FAST, n_generators=1, start_folds=0, random_state=0).fit(X_missing)
    assert plain.start_fill_.fold_mixtures_ is None and plain.start_fill_.row_folds_ is None


def test_a_tiny_table_holds_out_a_cell_and_stops_early():
    # 5 rows x 2 columns: 5% of the 9 observed cells rounds to none on this seed, so the
    # GAN had nothing to stop on and trained every step (4000 x 3 GANs: about a minute)
    X = correlated(5, seed=1)[:, :2]
    X[0, 1] = np.nan
    imputer = GainImputer(n_iterations=2000, batch_size=32, n_generators=1,
                          validation_fraction=0.05, start_blend=0, random_state=0).fit(X)
    checks = [h["step"] for h in imputer.history_ if "held_out_mse" in h]
    assert checks and checks[-1] < 2000, checks
    assert np.isfinite(imputer.transform(X)).all()
    none = GainImputer(n_iterations=300, batch_size=32, n_generators=1, validation_fraction=0.0,
                       random_state=0).fit(X)
    assert none.stop_steps_ == [300]  # no hold-out asked for: still none


def test_a_standardised_generator_input_is_the_mixtures_transform():
    from fashionlab.impute.gain import _StandardisedInput

    X_missing, _ = hide_completely_at_random(skewed(120), 0.2, random_state=6)
    for transform in ("yeo-johnson", None):
        imputer = GainImputer(**FAST, n_generators=1, generator_input="standardised",
                              start_transform=transform, random_state=0).fit(X_missing)
        g = imputer.generators_[0]
        assert isinstance(g, _StandardisedInput)
        x, given = imputer._scaled(X_missing)
        z = yeo_johnson(x, *g.transform)
        seen = given.bool()
        for j in range(x.shape[1]):  # standardised on the observed cells
            assert abs(z[seen[:, j], j].mean().item()) < 1e-6
            assert z[seen[:, j], j].std(unbiased=False).item() == pytest.approx(1, abs=1e-6)
        if transform is None:
            assert (g.transform[0] == 1).all()  # no transform: standardisation only
        else:
            assert torch.equal(g.transform[0], imputer.start_fill_.lambdas_)
            assert (g.transform[0] < 1).any()
        x_in = imputer.start_fill_.scaled_fill(x, given)
        with torch.no_grad():
            torch.testing.assert_close(g(x_in, given), g.generator(
                yeo_johnson(x_in, *g.transform).float(), given))


def test_defaults_and_the_previous_defaults():
    from fashionlab.impute.gain import _StandardisedInput

    params = GainImputer().get_params()
    assert (params["n_iterations"], params["validation_fraction"], params["start_folds"],
            params["generator_input"], params["start_blend"]) == (1000, 0.0, 5, "standardised",
                                                                  0.5)
    X_missing, _ = hide_completely_at_random(correlated(100), 0.2, random_state=7)
    new = GainImputer(**FAST, n_generators=1, random_state=0).fit(X_missing)
    assert len(new.start_fill_.fold_mixtures_) == 5
    assert isinstance(new.generators_[0], _StandardisedInput)
    assert len(new.start_fill_.fold_forests_) == 5
    assert all(len(f) == 5 for f in new.start_fill_.fold_forests_)
    assert new.stop_steps_ == [FAST["n_iterations"]]  # no early stopping
    previous = {"validation_fraction": 0.05, "start_folds": 0, "generator_input": "scaled",
                "start_blend": 0}
    old = GainImputer(**FAST, **previous, n_generators=1, random_state=0).fit(X_missing)
    assert old.start_fill_.fold_mixtures_ is None
    assert not isinstance(old.generators_[0], _StandardisedInput)
    assert old.start_fill_.fold_forests_ is None
    assert any("held_out_mse" in h for h in old.history_)


def test_a_three_row_table_fits_with_the_default_folds():
    X = correlated(3, seed=2)
    X[0, 1] = X[2, 3] = np.nan
    imputer = GainImputer(**FAST, n_generators=1, random_state=0).fit(X)
    assert len(imputer.start_fill_.fold_mixtures_) == 3  # one row per fold, fits on two rows each
    assert all(len(m[0]) <= 2 for m in imputer.start_fill_.fold_mixtures_)
    filled = imputer.transform(X)
    assert np.isfinite(filled).all()


@pytest.mark.parametrize("rows", [1, 2])
def test_a_table_of_fewer_rows_than_normals_fits(rows):
    # "auto" tries 1, 2 and 3 normals, which k-means cannot start on two rows
    X = np.array([[1.0, 2.0, 5.0], [3.0, np.nan, 4.0]])[:rows]
    imputer = GainImputer(**FAST, n_generators=1, random_state=0).fit(X)
    fill = imputer.start_fill_
    assert fill.n_components_ <= rows and len(fill.component_scores_) == rows
    filled = imputer.transform(X)
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~np.isnan(X)], X[~np.isnan(X)])


def curved(n: int = 160, seed: int = 0) -> np.ndarray:
    """Two uniform columns and three that bend with them (|a|, sin 2a, a times b): a normal
    (a linear fill) misses the bends, a forest follows them."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-2, 2, size=(2, n))
    noise = 0.05 * rng.normal(size=(3, n))
    return np.column_stack([a, b, np.abs(a) + noise[0], np.sin(2 * a) + noise[1],
                            a * b + noise[2]])


def test_start_blend_mixes_fold_forests_into_the_mixtures_fill():
    from fashionlab.impute.forests import forest_predict

    X_missing, _ = hide_completely_at_random(curved(90), 0.2, random_state=8)
    imputer = GainImputer(**FAST, n_generators=1, start_folds=3, start_blend=0.25,
                          forest_trees=10, random_state=0).fit(X_missing)
    assert all(len(forest.estimators_) == 10 for forests in imputer.start_fill_.fold_forests_
               for forest in forests)
    x, observed = imputer._scaled(X_missing)
    fill = imputer.start_fill_
    folds, given = fill.row_folds_, observed.bool()
    start = imputer.start_fill_.cross_fitted_fill(x, observed, torch.arange(len(x)))
    assert len(imputer.start_fill_.fold_forests_) == 3
    for f, forests in enumerate(imputer.start_fill_.fold_forests_):
        rows = folds == f
        mixture = fill.mixture_fill(x[rows], observed[rows], fill.fold_mixtures_[f])
        assert torch.equal(imputer.start_fill_.scaled_fill(x[rows], observed[rows], f), start[rows])
        for c, forest in enumerate(forests):
            other = np.delete(mixture.double().numpy(), c, 1)
            np.testing.assert_allclose(forest_predict(forest, other), forest.predict(other))
            gaps = ~given[rows, c]
            expected = 0.25 * forest.predict(other) + 0.75 * mixture[:, c].double().numpy()
            np.testing.assert_allclose(start[rows, c][gaps].numpy(), expected[gaps.numpy()],
                                       rtol=1e-5, atol=1e-6)
            assert torch.equal(start[rows, c][~gaps], x[rows, c][~gaps])  # given: kept
            # each forest never saw its fold: it reproduces the cells it was fitted on (the
            # other folds' rows), not the fold's own
            seen = (folds != f) & given[:, c]
            inputs = fill.mixture_fill(x[seen], observed[seen], fill.fold_mixtures_[f])
            np.testing.assert_allclose(forest.predict(np.delete(inputs.numpy(), c, 1)),
                                       x[seen, c].numpy(), atol=1e-6)
            own = rows & given[:, c]
            inputs = fill.mixture_fill(x[own], observed[own], fill.fold_mixtures_[f])
            assert not np.allclose(forest.predict(np.delete(inputs.numpy(), c, 1)),
                                   x[own, c].numpy(), atol=1e-3)


def test_start_blend_fills_bent_columns_better_than_the_mixture_alone():
    X = curved(240, seed=1)
    X_missing, hidden = hide_completely_at_random(X, 0.2, random_state=9)
    errors = {}
    for blend in (0.0, 0.5):  # no GAN correction (a learning rate of 0): the starting fill
        imputer = GainImputer(n_iterations=1, batch_size=32, n_generators=1, learning_rate=0.0,
                              n_components=1, start_blend=blend, random_state=0)
        errors[blend] = minmax_errors(X, imputer.fit_transform(X_missing), hidden)["rmse"]
    assert errors[0.5] < 0.9 * errors[0.0], errors  # 0.215 against 0.268 when written


def test_start_blend_forests_fit_on_a_sample_of_a_long_table(monkeypatch):
    import fashionlab.impute.mixture_forest as mixture_forest

    X_missing, _ = hide_completely_at_random(curved(90), 0.2, random_state=10)
    params = {**FAST, "n_generators": 1, "start_folds": 3, "forest_trees": 3, "random_state": 0}
    observed = ~np.isnan(X_missing)
    full = GainImputer(**params).fit(X_missing)
    for f, forests in enumerate(full.start_fill_.fold_forests_):  # below the cap: all rows seen
        rows = (full.start_fill_.row_folds_ != f).numpy()
        for c, forest in enumerate(forests):
            assert forest.estimators_[0].tree_.n_node_samples[0] == observed[rows, c].sum()
    monkeypatch.setattr(mixture_forest, "FOREST_ROWS", 25)
    monkeypatch.setattr(mixture_forest, "FOREST_CELLS", 0)
    capped = GainImputer(**params).fit(X_missing)  # 25 of each fold's 60 rows
    assert all(15 <= forest.estimators_[0].tree_.n_node_samples[0] <= 25
               for forests in capped.start_fill_.fold_forests_ for forest in forests)
    assert np.isfinite(capped.transform(X_missing)).all()
    monkeypatch.setattr(mixture_forest, "FOREST_CELLS", 200)  # 5 columns: 40 rows
    wider = GainImputer(**params).fit(X_missing)
    assert all(26 <= forest.estimators_[0].tree_.n_node_samples[0] <= 40
               for forests in wider.start_fill_.fold_forests_ for forest in forests)


def test_forest_rows_grow_with_the_cells_allowed_and_shrink_as_tables_widen():
    from fashionlab.impute.mixture_forest import FOREST_CELLS, FOREST_ROWS, forest_rows

    assert (FOREST_ROWS, FOREST_CELLS) == (2_000, 250_000)
    assert [forest_rows(c) for c in (1, 11, 16, 57, 125, 132)] == [
        250_000, 22_727, 15_625, 4_385, 2_000, 2_000]


def test_forest_splits_draw_from_half_the_other_columns_at_most_the_cap():
    from fashionlab.impute.forests import split_columns

    # as scikit-learn's max_features=0.5 below the cap: tables up to 31 columns unchanged
    assert [split_columns(n, 15) for n in (1, 2, 5, 29, 30, 31, 100)] == [1, 1, 2, 14, 15, 15, 15]
    assert split_columns(100, None) == 50 and split_columns(100, 4) == 4
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(60, 12))
    X_missing, _ = hide_completely_at_random(X, 0.1, random_state=0)
    params = {**FAST, "n_generators": 1, "forest_trees": 2, "random_state": 0}
    for most, expected in ((None, 5), (3, 3)):  # 11 other columns: half is 5
        imputer = GainImputer(**params, forest_max_columns=most).fit(X_missing)
        assert {forest.max_features for forests in imputer.start_fill_.fold_forests_
                for forest in forests} == {expected}


@pytest.mark.parametrize("most", [0, -1, 2.5, True, "15"])
def test_a_bad_forest_column_cap_is_rejected(most):
    X_missing, _ = hide_completely_at_random(correlated(30), 0.1, random_state=0)
    with pytest.raises(ValueError, match="forest_max_columns must be None or a positive"):
        GainImputer(**FAST, forest_max_columns=most).fit(X_missing)


def test_parallel_forests_fill_the_same_cells():
    X_missing, _ = hide_completely_at_random(correlated(80), 0.15, random_state=0)
    params = {**FAST, "n_generators": 1, "forest_trees": 8, "random_state": 0}
    one = GainImputer(**params).fit(X_missing)
    two = GainImputer(**params, n_jobs=2).fit(X_missing)
    assert {forest.n_jobs for forests in two.start_fill_.fold_forests_ for forest in forests} == {2}
    np.testing.assert_array_equal(one.transform(X_missing), two.transform(X_missing))


@pytest.mark.parametrize("jobs", [0, 1.5, True, "2"])
def test_a_bad_job_count_is_rejected(jobs):
    X_missing, _ = hide_completely_at_random(correlated(30), 0.1, random_state=0)
    with pytest.raises(ValueError, match="n_jobs must be None or a nonzero integer"):
        GainImputer(**FAST, n_jobs=jobs).fit(X_missing)
