"""The air-quality loader: finding the folder, errors, the wide table, the protocol splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import AIR_QUALITY_DIR
from fashionlab.data.air_quality import (
    ENV_VAR,
    FILE_PATTERN,
    STATIONS,
    VARIABLES,
    Standardizer,
    column_names,
    find_air_quality_dir,
    load_air_quality,
    protocol_splits,
    split_windows,
)
from fashionlab.errors import FashionlabError


def _write_tiny_folder(folder, hours=48, seed=0):
    """12 station CSVs in the published layout, ``hours`` rows each, a few NA."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2013-03-01", periods=hours, freq="h")
    for s in STATIONS:
        frame = pd.DataFrame(
            {
                "No": np.arange(1, hours + 1),
                "year": stamps.year,
                "month": stamps.month,
                "day": stamps.day,
                "hour": stamps.hour,
            }
        )
        for v in VARIABLES:
            frame[v] = rng.normal(size=hours).round(2)
        frame.loc[3, "PM2.5"] = np.nan
        frame["wd"] = "NNW"
        frame["station"] = s
        frame.to_csv(folder / FILE_PATTERN.format(station=s), index=False)
    return folder


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_tiny_folder_loads_wide_table(tmp_path):
    table = load_air_quality(_write_tiny_folder(tmp_path))
    assert table.shape == (48, 132)
    assert list(table.columns) == column_names()
    assert table.columns[11] == f"{STATIONS[1]}_{VARIABLES[0]}"
    assert table.index.freq == "h" or (np.diff(table.index.asi8) == 3600 * 10**9).all()
    assert table.isna().sum().sum() == 12  # one NA per station


def test_missing_hours_become_nan_rows(tmp_path):
    _write_tiny_folder(tmp_path)
    path = tmp_path / FILE_PATTERN.format(station=STATIONS[0])
    frame = pd.read_csv(path).drop(index=[10, 11])  # one station loses two hours
    frame.to_csv(path, index=False)
    table = load_air_quality(tmp_path)
    assert table.shape == (48, 132)
    assert table.iloc[10:12, :11].isna().all().all()
    assert not table.iloc[10:12, 11:].isna().any().any()


def test_env_var_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(_write_tiny_folder(tmp_path)))
    assert find_air_quality_dir() == tmp_path


def test_no_folder_no_env_is_clear_error():
    with pytest.raises(FashionlabError, match=ENV_VAR):
        find_air_quality_dir()


def test_missing_folder_is_clear_error(tmp_path):
    with pytest.raises(FashionlabError, match="does not exist"):
        load_air_quality(tmp_path / "nowhere")


def test_folder_without_station_files_is_clear_error(tmp_path):
    _write_tiny_folder(tmp_path)
    (tmp_path / FILE_PATTERN.format(station=STATIONS[5])).unlink()
    with pytest.raises(FashionlabError, match="lacks 1 station file"):
        load_air_quality(tmp_path)


def test_file_without_a_variable_is_clear_error(tmp_path):
    _write_tiny_folder(tmp_path)
    path = tmp_path / FILE_PATTERN.format(station=STATIONS[2])
    pd.read_csv(path).drop(columns=["O3"]).to_csv(path, index=False)
    with pytest.raises(FashionlabError, match="O3"):
        load_air_quality(tmp_path)


def test_unknown_protocol_is_clear_error():
    table = pd.DataFrame({"a": [1.0]}, index=pd.date_range("2013-03-01", periods=1, freq="h"))
    with pytest.raises(FashionlabError, match="saits"):
        protocol_splits(table, "brits")


def test_standardizer_uses_observed_values_only():
    X = np.array([[1.0, 5.0], [3.0, np.nan], [np.nan, 5.0]])
    scaler = Standardizer.fit(X)
    np.testing.assert_allclose(scaler.mean, [2.0, 5.0])
    np.testing.assert_allclose(scaler.std, [1.0, 1.0])  # constant column -> std 1, no division by 0
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X)


def test_split_windows_cover_rows_once():
    windows = split_windows(50, 24)
    assert [(w.start, w.stop) for w in windows] == [(0, 24), (24, 48), (48, 50)]


def test_real_data_shape_and_splits():
    if not AIR_QUALITY_DIR.is_dir():
        pytest.skip(f"air-quality data not found at {AIR_QUALITY_DIR}")
    table = load_air_quality(AIR_QUALITY_DIR)
    assert table.shape == (35064, 132)
    assert table.index[0] == pd.Timestamp("2013-03-01 00:00")
    assert table.index[-1] == pd.Timestamp("2017-02-28 23:00")
    missing = table.isna().to_numpy().mean()
    assert 0.005 < missing < 0.05  # the README: 2-5% of pollutants, 0.1% of weather
    saits = protocol_splits(table, "saits")
    assert saits["test"].index[0] == pd.Timestamp("2013-03-01")
    assert saits["val"].index[0] == pd.Timestamp("2014-01-01")
    assert saits["train"].index[0] == pd.Timestamp("2014-11-01")
    tsi = protocol_splits(table, "tsi-bench")
    assert tsi["val"].index[0] == pd.Timestamp("2015-07-01")
    assert tsi["test"].index[0] == pd.Timestamp("2016-05-01")
    for splits in (saits, tsi):
        assert sum(len(s) for s in splits.values()) == len(table)
        assert all(len(s) % 24 == 0 for s in splits.values())
