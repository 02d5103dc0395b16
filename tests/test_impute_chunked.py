"""`impute apply` in chunks: the same bytes as filling the whole file at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import STATION_COLUMNS, station_values
from fashionlab.cli import main
from fashionlab.impute.base import make_imputer
from fashionlab.impute.chunked import finished
from fashionlab.impute.csv_io import read_table, write_table
from fashionlab.impute.persist import load_imputer, save_imputer

COLUMNS = STATION_COLUMNS


def series(rows: int, seed: int = 0) -> pd.DataFrame:
    """2 stations x 2 variables, hourly, with gaps longer than a chunk, and text columns."""
    values = station_values(rows, seed, 0.15, slice(30, 52))  # an outage over several chunks
    rng = np.random.default_rng(seed + 1)
    values[:9, 3] = np.nan  # a column that starts late
    values[-15:, 2] = np.nan  # and one that ends early
    frame = pd.DataFrame(values.round(3), columns=COLUMNS)
    frame.insert(0, "time", pd.date_range("2020-01-01", periods=rows, freq="h").astype(str))
    frame["note"] = np.where(rng.random(rows) < 0.3, "a, b", "ok")  # quoted cells
    return frame


@pytest.mark.parametrize("method, params", [
    ("interpolate", {}),  # the whole file is one series
    ("locf", {"window": 24}),
    ("interpolate", {"window": 10}),
    ("nearest-station", {"n_variables": 2}),
    ("mean", {}),
    ("knn", {}),
    ("mice", {"max_iter": 3}),
])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_chunks_write_the_bytes_of_the_whole_file_fill(tmp_path, method, params):
    history = series(120)
    imputer = make_imputer(method, params, 0).fit(history[COLUMNS].to_numpy())
    save_imputer(imputer, tmp_path / "model", COLUMNS)
    new = tmp_path / "new.csv"
    series(100, seed=1).to_csv(new, index=False)
    table = read_table(new)  # the whole file at once
    write_table(table, load_imputer(tmp_path / "model")[0].transform(table.values),
                tmp_path / "whole.csv", flags=True)
    for rows in (1, 7, 24, 1000):
        out = tmp_path / f"chunks{rows}.csv"
        assert main(["impute", "apply", str(tmp_path / "model"), str(new), "--out", str(out),
                     "--chunk-rows", str(rows), "--flags"]) == 0
        assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes(), rows


@pytest.mark.parametrize("shifts", [1, 3])  # 3: grids offset by 4 rows read 11 rows around
def test_window_gain_in_chunks_fills_as_on_the_whole_file(tmp_path, shifts):
    history = series(24 * 6)
    params = {"epochs": 2, "d_model": 16, "disc_hidden": 8, "n_heads": 2, "window": 12,
              "shifts": shifts}
    imputer = make_imputer("window-gain", params, 0).fit(history[COLUMNS].to_numpy())
    save_imputer(imputer, tmp_path / "model", COLUMNS)
    new = tmp_path / "new.csv"
    series(100, seed=1).to_csv(new, index=False)
    whole = imputer.transform(pd.read_csv(new)[COLUMNS].to_numpy())
    assert main(["impute", "apply", str(tmp_path / "model"), str(new), "--out",
                 str(tmp_path / "out.csv"), "--chunk-rows", "5"]) == 0
    filled = pd.read_csv(tmp_path / "out.csv")[COLUMNS].to_numpy()
    np.testing.assert_allclose(filled, whole, atol=5e-4)  # written with 3 decimals


def test_a_series_method_writes_a_row_once_every_column_is_seen_after_it():
    x = np.array([[1, np.nan], [2, 5], [np.nan, np.nan], [4, np.nan], [5, np.nan]])
    assert finished(None, x, at_end=False) == (2, 1)  # column 1 last seen in row 1
    assert finished(None, x[:, :1], at_end=False) == (5, 4)
    assert finished(None, np.full((3, 2), np.nan), at_end=False) == (0, 0)
    assert finished(4, x, at_end=False) == (4, 4) and finished(4, x, at_end=True) == (5, 5)
    assert finished(0, x, at_end=False) == (5, 5)
    rows = np.ones((12, 1))  # windows of 4 whose fills read 3 rows beyond them
    assert finished(4, rows[:5], at_end=False, halo=3) == (0, 0)
    assert finished(4, rows, at_end=False, halo=3) == (8, 4)  # rows 8-10 read for row 7


def test_a_bad_cell_in_a_late_chunk_is_an_error_and_no_output(tmp_path, capsys):
    frame = series(60)
    history = tmp_path / "history.csv"
    frame.to_csv(history, index=False)
    assert main(["impute", "fit", str(history), "--method", "mean", "--out",
                 str(tmp_path / "model")]) == 0
    frame = frame.astype(object)
    frame.loc[45, "b_t"] = "n/d"
    frame.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    code = main(["impute", "apply", str(tmp_path / "model"), str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "out.csv"), "--chunk-rows", "10"])
    err = capsys.readouterr().err
    assert code == 2 and "holds text 'n/d' in data row 46" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists() and list(tmp_path.glob(".out.csv*")) == []
    code = main(["impute", "apply", str(tmp_path / "model"), str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "out.csv"), "--chunk-rows", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: --chunk-rows must be a positive number of rows, got 0\n"
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("text", [
    # semicolons, decimal commas, Windows line ends, a byte order mark, R's quotes
    '\ufeff"when";"x";"y"\r\n"d1";1,5;2\r\n"d2";;3\r\n\r\n"d3";2,25;\r\n"d4";3;4\r\n',
    "x\n1\n\n2.5\n\n\n",  # one column: a blank line inside is an empty cell, at the end not
])
def test_chunks_keep_the_files_own_format(tmp_path, text):
    new = tmp_path / "new.csv"
    new.write_bytes(text.encode())
    table = read_table(new)
    imputer = make_imputer("interpolate", {}, 0).fit(table.values)
    save_imputer(imputer, tmp_path / "model", [table.header[j] for j in table.numeric])
    write_table(table, imputer.transform(table.values), tmp_path / "whole.csv", flags=False)
    assert main(["impute", "apply", str(tmp_path / "model"), str(new), "--out",
                 str(tmp_path / "out.csv"), "--chunk-rows", "1"]) == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
