"""Gap patterns: the masks' shapes, their files, and `impute --pattern / --mask-file`."""

from __future__ import annotations

import numpy as np
import pytest

from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.impute.patterns import (
    gap_lengths,
    load_mask,
    pattern_mask,
    save_mask,
    station_groups,
)


def station_table(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """3 stations x 2 variables, smooth in time, with gaps of known lengths in column 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    X = np.sin(t / 20 + np.arange(6)) + 0.1 * rng.standard_normal((rows, 6))
    for start in range(10, rows - 20, 50):
        X[start:start + 5, 0] = np.nan  # column 0's own gaps: 5 rows each
    columns = [f"{s}_{v}" for s in ("north", "south", "east") for v in ("pm", "temp")]
    return X, columns


def test_gap_lengths_are_the_runs_of_missing_cells():
    assert gap_lengths(np.array([1, 1, 0, 1, 0, 0, 0, 1], bool)).tolist() == [2, 1, 1]
    assert gap_lengths(np.zeros(4, bool)).tolist() == []


@pytest.mark.parametrize("pattern", ["random", "block", "outage", "subsequence"])
def test_every_pattern_hides_about_the_fraction_of_observed_cells_only(pattern):
    X, columns = station_table()
    mask = pattern_mask(X, pattern, 0.2, 3, columns=columns)
    assert not (mask & np.isnan(X)).any()  # never a cell already missing
    share = mask.sum() / (~np.isnan(X)).sum()
    assert 0.18 <= share <= 0.3, share
    assert (pattern_mask(X, pattern, 0.2, 3, columns=columns) == mask).all()  # seeded
    assert not (pattern_mask(X, pattern, 0.2, 4, columns=columns) == mask).all()


def test_block_draws_run_lengths_from_the_columns_own_gaps():
    X, columns = station_table()
    mask = pattern_mask(X, "block", 0.2, 0, columns=columns)
    runs = gap_lengths(mask[:, 0])
    assert np.median(runs) == 5  # column 0 has gaps of 5 rows (hidden runs may touch)
    single = pattern_mask(X, "random", 0.2, 0)
    assert gap_lengths(single[:, 1]).mean() < 1.5  # random cells: mostly single


def test_outage_hides_every_variable_of_one_station_at_once():
    X, columns = station_table()
    X[:, 0] = np.where(np.isnan(X[:, 0]), 0.0, X[:, 0])  # no own gaps: all cells observed
    mask = pattern_mask(X, "outage", 0.1, 1, columns=columns)
    for group in station_groups(columns):
        assert (mask[:, group].all(axis=1) == mask[:, group].any(axis=1)).all()
    assert station_groups(columns) == [[0, 1], [2, 3], [4, 5]]
    assert station_groups(["a", "b", "c"]) == [[0, 1, 2]]  # no stations: every column at once


def test_subsequence_runs_have_the_given_length():
    X, _ = station_table()
    X = np.nan_to_num(X)
    runs = gap_lengths(pattern_mask(X, "subsequence", 0.1, 0, length=12)[:, 3])
    assert (runs % 12 == 0).all()  # runs of 12 (two may touch)


def test_a_mask_file_round_trips_as_npy_and_csv(tmp_path):
    X, columns = station_table(60)
    mask = pattern_mask(X, "block", 0.2, 0, columns=columns)
    for name in ("mask.npy", "mask.csv"):
        path = save_mask(tmp_path / name, mask)
        assert (load_mask(path, X.shape) == mask).all()
    with pytest.raises(FashionlabError, match=r"shape \(60, 6\).*\(60, 5\)"):
        load_mask(tmp_path / "mask.npy", (60, 5))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FashionlabError, match="not a .npy array"):  # never unpickled
        load_mask(tmp_path / "objects.npy", (1,))


def write_csv(path, X, columns):
    lines = [",".join(columns)] + [
        ",".join("" if np.isnan(v) else f"{v:.4f}" for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_impute_evaluate_with_a_pattern_saves_a_mask_that_scores_the_same(tmp_path, capsys):
    X, columns = station_table(200)
    src = write_csv(tmp_path / "in.csv", X, columns)
    mask = tmp_path / "mask.csv"
    assert main(["impute", str(src), "--evaluate", "0.2", "--pattern", "outage", "--compare",
                 "mean,interpolate", "--save-mask", str(mask)]) == 0
    first = capsys.readouterr().out
    assert "pattern outage" in first and mask.is_file()
    assert main(["impute", str(src), "--mask-file", str(mask), "--compare",
                 "mean,interpolate"]) == 0
    second = capsys.readouterr().out
    table = [line for line in first.splitlines() if line.startswith(("mean", "interpolate"))]
    again = [line for line in second.splitlines() if line.startswith(("mean", "interpolate"))]
    assert [line.split()[:3] for line in table] == [line.split()[:3] for line in again]


@pytest.mark.parametrize("args, message", [
    (["--evaluate", "0.2", "--pattern", "bursts"], "unknown gap pattern 'bursts'"),
    (["--mask-file", "nope.npy"], "mask file nope.npy does not exist"),
    (["--evaluate", "0.2", "--pattern", "outage", "--groups", "west"], "group 'west'"),
])
def test_bad_pattern_input_is_one_error_line(tmp_path, capsys, monkeypatch, args, message):
    X, columns = station_table(50)
    src = write_csv(tmp_path / "in.csv", X, columns)
    monkeypatch.chdir(tmp_path)
    code = main(["impute", str(src), "--out", "out.csv", "--method", "mean", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out.csv").exists()
