"""The window GAN for long gaps (nearest-station start) and the per-gap-class intervals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionlab.errors import FashionlabError
from fashionlab.impute.intervals import (
    CLASSES,
    OUTAGE,
    by_variable,
    calibrate_by_gap,
    gap_classes,
    gap_interval,
    gaussian_crps,
)
from fashionlab.impute.patterns import run_lengths
from fashionlab.impute.persist import load_imputer, save_imputer
from fashionlab.impute.timeseries import NearestStationImputer
from fashionlab.impute.window_gain import WindowGainImputer

SMALL = dict(d_model=32, n_heads=2, n_layers=1, disc_hidden=16, random_state=0)


def _ar(rng, n_rows, k):
    x = np.zeros((n_rows, k))
    noise = rng.normal(0, 0.3, (n_rows, k))
    for i in range(1, n_rows):
        x[i] = 0.95 * x[i - 1] + noise[i]
    return x


def stations(n_rows: int, seed: int = 0) -> np.ndarray:
    """Three stations of two variables; the middle one is the average of its neighbours, so
    both neighbours together explain its outage better than the best one alone."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    west = _ar(rng, n_rows, 2) + np.sin(2 * np.pi * t / 24)[:, None]
    east = _ar(rng, n_rows, 2) - np.cos(2 * np.pi * t / 24)[:, None]
    middle = (west + east) / 2 + rng.normal(0, 0.05, (n_rows, 2))
    return np.concatenate([west, middle, east], axis=1)


@pytest.fixture(scope="module")
def outage_case():
    X = stations(24 * 60)
    fit, new = X[: 24 * 40], X[24 * 40 :].copy()
    truth = new.copy()
    new[24:72, 2:4] = np.nan  # the middle station is down for two whole windows
    new[200:260, 0] = np.nan  # and one variable of the west station for 60 hours
    return fit, new, truth, np.isnan(new)


def mae(filled, truth, hidden):
    return float(np.abs(filled[hidden] - truth[hidden]).mean())


def test_station_start_learns_what_the_nearest_station_misses(outage_case):
    fit, new, truth, hidden = outage_case
    plain = mae(NearestStationImputer(n_variables=2).fit(fit).transform(new), truth, hidden)
    gan = WindowGainImputer(**SMALL, epochs=120, start="nearest-station", n_variables=2,
                            hide_pattern="gaps").fit(fit)
    interp_gan = WindowGainImputer(**SMALL, epochs=120).fit(fit)
    assert gan.start_ == "nearest-station" and interp_gan.start_ == "interpolate"
    ours = mae(gan.transform(new), truth, hidden)
    assert ours < 0.8 * plain, (ours, plain)  # beats its own start
    assert ours < mae(interp_gan.transform(new), truth, hidden)  # and today's start


def test_station_start_round_trips_through_a_model_folder(outage_case, tmp_path):
    fit, new, _, _ = outage_case
    gan = WindowGainImputer(**SMALL, epochs=2, start="nearest-station", n_variables=2).fit(fit)
    save_imputer(gan, tmp_path / "model", [f"s{i // 2}_v{i % 2}" for i in range(6)])
    loaded, meta = load_imputer(tmp_path / "model")
    assert loaded.start_ == "nearest-station" and loaded.get_params()["start"] == "nearest-station"
    assert meta["method"] == "window-gain"
    np.testing.assert_array_equal(loaded.donor_index_, gan.donor_index_)
    np.testing.assert_allclose(loaded.transform(new), gan.transform(new))


def test_the_gaussian_start_fills_a_table_without_stations_from_every_column(tmp_path):
    X = stations(24 * 10)[:, :5]  # no station layout needed
    X[30:60, 1] = np.nan  # a gap longer than a window
    gan = WindowGainImputer(**SMALL, epochs=2, start="gaussian").fit(X)
    assert gan.start_ == "gaussian" and gan.generator_.n_starts == 2
    shown = X[None, 24:48]
    second = gan._inputs((shown - gan.mean_) / gan.std_)[0, :, 5:10]
    expected = gan.start_fill_.transform((X[24:48] - gan.mean_) / gan.std_)
    np.testing.assert_allclose(second, expected)  # each row's conditional mean, every column
    filled = gan.transform(X)
    assert not np.isnan(filled).any()
    save_imputer(gan, tmp_path / "model", [f"c{i}" for i in range(5)])
    loaded, _ = load_imputer(tmp_path / "model")
    assert loaded.start_ == "gaussian"
    np.testing.assert_array_equal(loaded.transform(X), filled)


def test_a_table_without_stations_keeps_the_interpolation_start():
    X = stations(24 * 10)[:, :5]  # 5 columns do not form stations of 2 variables
    X[30:40, 1] = np.nan
    gan = WindowGainImputer(**SMALL, epochs=2, start="nearest-station", n_variables=2,
                            hide_pattern="gaps").fit(X)
    assert gan.start_ == "interpolate" and gan.donor_index_ is None
    assert gan.generator_.n_starts == 1
    assert not np.isnan(gan.transform(X)).any()


def test_shifted_grids_average_and_read_only_the_rows_around():
    X = stations(24 * 8)
    X[40:58, :2] = np.nan  # an outage across the first grid's window edge at row 48
    X[24:30, 3] = np.nan  # a gap that grids offset by 8 and 16 rows see with rows 8-23
    gan = WindowGainImputer(**SMALL, epochs=2).fit(X)
    one = gan.transform(X)
    gan.set_params(shifts=1)
    assert np.array_equal(gan.transform(X), one)
    gan.set_params(shifts=3)  # grids offset by 0, 8 and 16 rows
    three = gan.transform(X)
    assert not np.allclose(three[40:58, :2], one[40:58, :2])
    far = X.copy()
    far[:24] += 5.0  # rows 0-23 and 96 on: more than 23 rows from rows 48-71
    far[96:] -= 5.0
    np.testing.assert_allclose(gan.transform(far)[48:72], three[48:72], rtol=0, atol=1e-6)
    assert not np.allclose(gan.transform(far)[24:30, 3], three[24:30, 3])
    gan.set_params(shifts=25)
    with pytest.raises(FashionlabError, match="shifts must be at most the window"):
        gan.transform(X)
    with pytest.raises(FashionlabError, match="shifts must be at most the window"):
        WindowGainImputer(**SMALL, epochs=10**6, shifts=25).fit(X)  # at once, not trained first


def test_cpu_budget_stops_training():
    torch.optim.AdamW([torch.zeros(1)])  # its first use imports a lot: not the test's budget
    gan = WindowGainImputer(**SMALL, epochs=10**6, max_seconds=0.5, budget_clock="cpu")
    gan.fit(stations(24 * 10))
    assert 1 <= len(gan.history_) < 10**6 and gan.history_[-1]["seconds"] < 5


@pytest.mark.parametrize("params, message", [
    ({"start": "kriging"}, "start must be 'interpolate', 'nearest-station' or 'gaussian'"),
    ({"hide_pattern": "blocks"}, "hide_pattern must be 'random' or 'gaps'"),
    ({"budget_clock": "gpu"}, "budget_clock must be"),
])
def test_bad_settings_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        WindowGainImputer(**SMALL, epochs=1, **params).fit(stations(48))


def test_gap_classes_know_lengths_and_outages():
    missing = np.zeros((100, 4), bool)
    missing[10, 0] = True  # 1 h
    missing[20:25, 1] = True  # 5 h
    missing[30:60, 0] = True  # 30 h, and station (2, 3) down for 80 h
    missing[15:95, 2:4] = True
    classes = gap_classes(missing, [[0, 1], [2, 3]])
    assert run_lengths(missing)[22, 1] == 5 and run_lengths(missing)[0, 0] == 0
    assert classes[10, 0] == CLASSES.index("1 h") and classes[22, 1] == CLASSES.index("2-6 h")
    assert classes[40, 0] == CLASSES.index("25-72 h")
    assert (classes[15:95, 2:4] == OUTAGE).all() and classes[0, 0] == -1
    split = by_variable(classes, 2)  # station-major: column 1 is variable 1
    assert split[22, 1] == CLASSES.index("2-6 h") * 2 + 1 and split[0, 0] == -1


def test_coverage_is_calibrated_per_gap_class():
    """Errors grow with the gap class while the draws' spread does not: one stretch for all
    cells would over-cover short gaps and under-cover long ones; per class each is ~0.9."""
    rng = np.random.default_rng(0)
    n_rows, n_cols = 4000, 6
    classes = rng.integers(0, len(CLASSES), (n_rows, n_cols))
    truth = rng.normal(size=(n_rows, n_cols))
    sigma = 0.1 * 2.0 ** classes
    draws = truth + sigma * rng.normal(size=(n_rows, n_cols)) + 0.01 * rng.normal(
        size=(8, n_rows, n_cols))
    calib = np.zeros((n_rows, n_cols), bool)
    calib[: n_rows // 2] = True
    calibration = calibrate_by_gap(draws, truth, calib, classes)
    assert calibration.raw_coverage < 0.5  # the draws collapse
    median, low, high = gap_interval(draws, classes, calibration)
    scored = ~calib
    for c in range(len(CLASSES)):
        sel = scored & (classes == c)
        covered = np.mean((low[sel] <= truth[sel]) & (truth[sel] <= high[sel]))
        assert 0.86 <= covered <= 0.94, (CLASSES[c], covered)
    wide = gaussian_crps(median[scored], (high - low)[scored] / 3.29, truth[scored]).mean()
    narrow = gaussian_crps(median[scored], np.full(scored.sum(), 0.01), truth[scored]).mean()
    assert wide < narrow  # CRPS rewards the calibrated width over the collapsed one
