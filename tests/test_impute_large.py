"""Large tables (issue 27): ``--method auto`` scores its candidates on a bounded, seeded
block of rows and says so, and long fits show progress with the time left on stderr."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fashionlab.impute.progress as progress
import fashionlab.impute.table as table
from fashionlab.cli import main
from fashionlab.impute import make_imputer
from fashionlab.impute.table import ImputeConfig, impute_csv, scoring_rows

pytestmark = pytest.mark.usefixtures("one_thread")


def series_csv(path, rows: int, columns: int = 2, seed: int = 0):
    """Correlated random walks in time order, 10% of the cells empty."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(rows, 1)), axis=0)
    values = np.round(walk + rng.normal(scale=0.3, size=(rows, columns)), 3).astype(str)
    values[rng.random(values.shape) < 0.1] = ""
    header = ",".join(f"c{j}" for j in range(columns))
    path.write_text(header + "\n" + "\n".join(",".join(row) for row in values) + "\n")
    return path


def test_scoring_rows_is_every_row_of_a_small_table_and_a_seeded_block_of_a_large_one():
    assert scoring_rows(4000, 50) is None  # 200,000 cells: every row
    block = scoring_rows(100_000, 50, seed=3)
    assert len(block) == table.AUTO_MAX_CELLS // 50 and 0 <= block.start < block.stop <= 100_000
    assert block == scoring_rows(100_000, 50, seed=3) != scoring_rows(100_000, 50, seed=4)


def test_auto_scores_a_large_table_on_a_block_and_says_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(table, "AUTO_MAX_CELLS", 1200)  # 600 rows of these 2 columns
    monkeypatch.setattr(table, "AUTO_METHODS", ("mean", "interpolate"))
    src = series_csv(tmp_path / "in.csv", 3000)
    code = main(["impute", str(src), "--out", str(tmp_path / "out.csv")])
    stdout, err = capsys.readouterr()
    assert code == 0
    block = scoring_rows(3000, 2, seed=0)
    where = f"rows {block.start + 1:,}-{block.stop:,}, a seeded block of 600 of the 3,000 rows"
    assert f"the table is large: --method auto scores on {where}" in err
    assert f"in {where}; seed 0):" in stdout
    hidden = int(re.search(r"RMSE on (\d+) hidden cells", stdout).group(1))
    assert 95 <= hidden <= 120  # a tenth of the block's observed cells (90% of 1,200)


def test_a_long_fit_shows_its_progress_and_time_left(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "MININTERVAL", 0)  # every step drawn, so the test sees one
    src = series_csv(tmp_path / "in.csv", 60, columns=3)
    code = main(["impute", str(src), "--out", str(tmp_path / "out.csv"), "--method", "mice",
                 "--param", "max_iter=4"])
    err = capsys.readouterr().err
    assert code == 0
    assert re.search(r"fit \(at most 4 rounds of 3 columns\): +\d+%.*\| \d+/12 "
                     r"\[\d\d:\d\d<\d\d:\d\d", err)  # elapsed<left, from tqdm


@pytest.mark.parametrize(("method", "params", "bar"), [
    ("missforest", {"n_estimators": 2, "max_iter": 2}, r"fit \(at most 2 rounds of 3 "
                                                        r"columns\): .*\| 12/12 \[.*tree"),
    ("missforest", {"n_estimators": 2, "max_iter": 2, "n_jobs": 2}, r"\| 12/12 \["),
    ("knn", {}, r"fill: nearest rows: .*\| 25/25"),
    ("window-gain", {"epochs": 2, "window": 4, "d_model": 8, "n_heads": 2, "n_layers": 1,
                     "disc_hidden": 8}, r"window-gain training: .*\d+/\d+ \["),
])
def test_other_long_methods_show_progress(capsys, monkeypatch, method, params, bar):
    monkeypatch.setattr(progress, "MININTERVAL", 0)
    values = np.random.default_rng(0).normal(size=(25, 3))
    values[::4, 1] = np.nan
    with progress.shown():
        make_imputer(method, params, random_state=0).fit_transform(values)
    assert re.search(bar, capsys.readouterr().err)


def test_a_library_call_prints_no_bar(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "MININTERVAL", 0)
    src = series_csv(tmp_path / "in.csv", 40)
    impute_csv(ImputeConfig(input=src, out=tmp_path / "out.csv", method="mice"))
    assert capsys.readouterr().err == ""


def test_knn_fills_row_chunks_as_it_fills_the_whole_table(monkeypatch):
    import fashionlab.impute.baselines as baselines

    values = np.random.default_rng(1).normal(size=(50, 4))
    values[np.random.default_rng(2).random(values.shape) < 0.2] = np.nan
    whole = make_imputer("knn").fit_transform(values)
    monkeypatch.setattr(baselines, "KNN_CHUNK", 7)
    assert np.array_equal(make_imputer("knn").fit_transform(values), whole)


def test_counting_trees_grows_the_same_forests(monkeypatch):
    import fashionlab.impute.baselines as baselines

    values = np.random.default_rng(3).normal(size=(40, 3))
    values[::5, 0] = np.nan
    params = {"n_estimators": 3, "max_iter": 2}
    counted = make_imputer("missforest", params, random_state=0).fit_transform(values)
    monkeypatch.setattr(baselines, "_CountedForest", baselines.ExtraTreesRegressor)
    plain = make_imputer("missforest", params, random_state=0).fit_transform(values)
    assert np.array_equal(counted, plain)
