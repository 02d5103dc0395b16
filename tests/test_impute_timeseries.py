"""Time-series imputers on tiny synthetic series: semantics, the contract, window independence."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fashionlab.errors import FashionlabError
from fashionlab.impute.masking import hide_completely_at_random, masked_errors
from fashionlab.impute.timeseries import (
    LinearInterpolationImputer,
    LocfImputer,
    NearestStationImputer,
)
from fashionlab.impute.window_gain import WindowGainImputer

NAN = np.nan


pytestmark = pytest.mark.usefixtures("one_thread")


def stations_sines(n_rows=96, n_stations=3, n_variables=2, missing=0.15, seed=0):
    """Per station and variable a sine with its own phase; station s = station 0 shifted a bit."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)[:, None]
    cols = []
    for s in range(n_stations):
        for v in range(n_variables):
            cols.append(np.sin(2 * np.pi * t[:, 0] / 24 + v) * (1 + 0.1 * s) + 0.05 * s)
    full = np.stack(cols, axis=1)
    gappy = full.copy()
    gappy[rng.random(full.shape) < missing] = NAN
    return full, gappy


def tiny_gan(**kwargs):
    params = dict(window=8, d_model=16, n_layers=1, n_heads=2, disc_hidden=16, epochs=2,
                  batch_size=8, random_state=0)  # fmt: skip
    params.update(kwargs)
    return WindowGainImputer(**params)


ALL = [
    lambda: LocfImputer(window=8),
    lambda: LinearInterpolationImputer(window=8),
    lambda: NearestStationImputer(n_variables=2, window=8),
    tiny_gan,
]


def test_interpolation_is_exact_on_linear_data():
    X = np.arange(10.0)[:, None] * np.array([[1.0, -2.0]]) + 3.0
    gappy = X.copy()
    gappy[[1, 2, 5, 8], 0] = NAN
    gappy[[3, 4, 6], 1] = NAN
    out = LinearInterpolationImputer().fit(gappy).transform(gappy)
    np.testing.assert_allclose(out, X)


def test_interpolation_holds_edges_inside_each_window():
    X = np.array([[NAN], [1.0], [3.0], [NAN], [NAN], [10.0], [NAN], [NAN]])
    out = LinearInterpolationImputer(window=4).fit(X).transform(X)
    # window 1: rows 0..3 -> leading gap takes 1, trailing gap keeps 3 (row 5 is not seen)
    # window 2: rows 4..7 -> 10 held both ways
    np.testing.assert_allclose(out[:, 0], [1, 1, 3, 3, 10, 10, 10, 10])


def test_locf_semantics():
    X = np.array([[NAN, 5.0], [2.0, NAN], [NAN, NAN], [4.0, 7.0], [NAN, NAN]])
    out = LocfImputer().fit(X).transform(X)
    np.testing.assert_allclose(out, [[2, 5], [2, 5], [2, 5], [4, 7], [4, 7]])


def test_column_empty_in_a_window_takes_the_training_mean():
    train = np.array([[1.0], [3.0], [5.0]])
    X = np.array([[NAN], [NAN], [7.0], [8.0]])
    out = LinearInterpolationImputer(window=2).fit(train).transform(X)
    np.testing.assert_allclose(out[:, 0], [3, 3, 7, 8])


def test_nearest_station_uses_the_best_correlated_station():
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    X = np.stack([a, rng.normal(size=200), 2 * a + 1, rng.normal(size=200)], axis=1)
    # 2 stations x 2 variables: column 0 (station 0, var 0) <- column 2 (station 1, var 0)
    imputer = NearestStationImputer(n_variables=2).fit(X)
    gappy = X.copy()
    gappy[[5, 50, 120], 0] = NAN
    out = imputer.transform(gappy)
    np.testing.assert_allclose(out[[5, 50, 120], 0], a[[5, 50, 120]], atol=1e-9)
    assert imputer.donors_[0][0][0] == 2


def test_nearest_station_falls_back_to_interpolation_when_no_donor_is_seen():
    X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]] * 10)
    gappy = X[:4].copy()
    gappy[1, :] = NAN  # both stations miss row 1
    out = NearestStationImputer(n_variables=1, min_overlap=2).fit(X).transform(gappy)
    np.testing.assert_allclose(out[1], [1.0, 2.0])


def test_nearest_station_rejects_a_layout_that_does_not_fit():
    _, gappy = stations_sines()
    with pytest.raises(FashionlabError, match="n_variables"):
        NearestStationImputer(n_variables=4).fit(gappy)


@pytest.mark.parametrize("make", ALL)
def test_observed_never_altered_and_all_filled(make):
    full, gappy = stations_sines()
    out = make().fit(gappy).transform(gappy)
    observed = ~np.isnan(gappy)
    np.testing.assert_array_equal(out[observed], gappy[observed])
    assert np.isfinite(out).all()
    assert not np.shares_memory(out, gappy)


@pytest.mark.parametrize("make", ALL)
def test_windows_are_imputed_on_their_own(make):
    _, gappy = stations_sines()
    imputer = make().fit(gappy)
    first = imputer.transform(gappy)[:8]
    changed = gappy.copy()
    changed[8:] = np.where(np.isnan(changed[8:]), NAN, changed[8:] + 100.0)  # later windows
    np.testing.assert_allclose(imputer.transform(changed)[:8], first)


@pytest.mark.parametrize("make", ALL)
def test_sklearn_contract(make):
    _, gappy = stations_sines()
    imputer = make()
    assert clone(imputer).get_params() == imputer.get_params()
    with pytest.raises(NotFittedError):
        imputer.transform(gappy)
    assert imputer.fit(gappy) is imputer
    with pytest.raises(ValueError, match="features"):
        imputer.transform(gappy[:, :3])
    pipe = make_pipeline(make(), StandardScaler()).fit(gappy)
    assert np.isfinite(pipe.transform(gappy)).all()


def test_other_missing_value_placeholder():
    X = np.array([[1.0], [-1.0], [3.0]])
    out = LinearInterpolationImputer(missing_values=-1.0).fit(X).transform(X)
    np.testing.assert_allclose(out[:, 0], [1, 2, 3])


def test_registered_by_name():
    from fashionlab.impute.base import IMPUTERS

    assert IMPUTERS["locf"] is LocfImputer
    assert IMPUTERS["interpolate"] is LinearInterpolationImputer
    assert IMPUTERS["nearest-station"] is NearestStationImputer
    assert IMPUTERS["window-gain"] is WindowGainImputer


def test_bad_window_is_clear_error():
    with pytest.raises(FashionlabError, match="window"):
        LocfImputer(window=0).fit(np.ones((4, 1)))


def test_gan_is_reproducible():
    _, gappy = stations_sines()
    a, b = tiny_gan().fit(gappy), tiny_gan().fit(gappy)
    np.testing.assert_allclose(a.transform(gappy), b.transform(gappy))
    assert len(a.history_) == 2 and {"loss_d", "rec_hidden", "adv"} <= set(a.history_[0])


def test_gan_learns_from_the_other_station():
    # white noise in time (interpolation is useless) and a twin station (a copy is perfect)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(384, 2))
    full = np.concatenate([a, a + 0.01 * rng.normal(size=a.shape)], axis=1)
    gappy, hidden = hide_completely_at_random(full, 0.2, 0)
    gan = tiny_gan(d_model=32, epochs=40, batch_size=16, lr=3e-3, round_integers=False)
    gan_mae = masked_errors(full, gan.fit(gappy).transform(gappy), hidden)["mae"]
    interp = LinearInterpolationImputer(window=8).fit(gappy).transform(gappy)
    interp_mae = masked_errors(full, interp, hidden)["mae"]
    assert gan_mae < 0.7 * interp_mae


def test_filled_series_figure(tmp_path):
    import pandas as pd

    from fashionlab.viz.impute import plot_filled_series, save_filled_series

    _, gappy = stations_sines(n_rows=48, n_stations=2, n_variables=2)
    columns = ["A_PM2.5", "A_TEMP", "B_PM2.5", "B_TEMP"]
    index = pd.date_range("2014-01-01", periods=48, freq="h")
    given = pd.DataFrame(gappy, index=index, columns=columns)
    filled = LinearInterpolationImputer().fit(gappy).transform(gappy)
    imputed = pd.DataFrame(filled, index=index, columns=columns)
    fig = plot_filled_series(given, imputed, "B", hours=24)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "TEMP"
    path = save_filled_series(tmp_path / "b.png", given, imputed, "A", variables=["TEMP"])
    assert path.stat().st_size > 1000
    with pytest.raises(FashionlabError, match="stations are A, B"):
        plot_filled_series(given, imputed, "C")
