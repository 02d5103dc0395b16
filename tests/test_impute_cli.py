"""`fashionlab impute`: the filled file, flags, evaluation, and every bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fashionlab.cli import main
from fashionlab.impute.table import (
    AUTO_METHODS,
    WIDE,
    auto_methods,
    choose_method,
    read_table,
)

GOOD = """id,name,height,weight,count
1,ann,1.62,55.5,3
2,bob,,80.25,4
3,"cy, jr",1.80,NA,
4,dee,1.70,66.0,5
5,eve,1.55,,2
6,fay,1.91,90.0,7
"""


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["impute", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_fills_only_empty_numeric_cells_and_keeps_everything_else(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    before = src.read_bytes()
    out = tmp_path / "out.csv"
    code, stdout, _ = run(capsys, src, "--out", out, "--method", "median", "--flags")
    assert code == 0 and "filled 4 empty cells" in stdout
    assert src.read_bytes() == before  # the input is never touched
    rows = list(csv.reader(out.open()))
    original = list(csv.reader(src.open()))
    assert rows[0] == original[0] + ["height_imputed", "weight_imputed", "count_imputed"]
    for got, was in zip(rows[1:], original[1:], strict=True):
        # observed cells and text come back verbatim (got also holds the flag columns)
        for cell, old in zip(got, was, strict=False):
            if old not in ("", "NA"):
                assert cell == old
    assert rows[2][2] == "1.70"  # median of the heights, written with the column's decimals
    assert rows[3][4] == "4"  # an integer column stays integer
    assert rows[3][1] == "cy, jr"
    assert [r[-3:] for r in rows[1:4]] == [["0", "0", "0"], ["1", "0", "0"], ["0", "1", "1"]]


def test_refuses_existing_out_unless_force(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    out = write(tmp_path / "out.csv", "keep me")
    code, _, err = run(capsys, src, "--out", out, "--method", "mean")
    assert code == 2 and "already exists" in err and "--force" in err
    assert out.read_text() == "keep me"
    code, _, _ = run(capsys, src, "--out", out, "--method", "mean", "--force")
    assert code == 0 and out.read_text().startswith("id,name")


def test_evaluate_prints_each_method(tmp_path, capsys):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 1))
    data = np.hstack([z, 2 * z + 0.1 * rng.normal(size=(60, 1)), rng.normal(size=(60, 1))])
    lines = ["a,b,c"] + [",".join(f"{v:.3f}" for v in row) for row in data]
    src = write(tmp_path / "in.csv", "\n".join(lines) + "\n")
    methods = ("mean", "median", "knn", "mice")  # the slower ones are covered by the benchmark
    code, stdout, _ = run(capsys, src, "--evaluate", "0.2", "--compare", ",".join(methods))
    assert code == 0
    for method in methods:
        assert f"\n{method} " in stdout
    assert "36 hidden cells" in stdout  # 20% of 180 observed cells
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # nothing written without --out


def test_evaluate_scores_the_candidates_of_auto_by_default(tmp_path, capsys, monkeypatch):
    import fashionlab.impute.table as table_module

    monkeypatch.setattr(table_module, "AUTO_METHODS", ("mean", "locf", "gain"))
    rows = ["a,b"] + [f"{i},{i % 7}" for i in range(40)]
    src = write(tmp_path / "in.csv", "\n".join(rows) + "\n")
    code, stdout, _ = run(capsys, src, "--evaluate", "0.2")
    assert code == 0
    assert sorted(line.split()[0] for line in stdout.splitlines()[2:]) == ["gain", "locf", "mean"]
    assert auto_methods(WIDE + 1) == ("mean", "locf")  # GAIN only up to WIDE columns


@pytest.mark.parametrize(("before", "after"), [
    # R's write.csv: names and text quoted, numbers and NA bare; Windows line endings
    ('"id","wd","x"\r\n1,"N",1.5\r\n2,NA,NA\r\n3,"a ""b""",3.5\r\n',
     '"id","wd","x"\r\n1,"N",1.5\r\n2,NA,2.5\r\n3,"a ""b""",3.5\r\n'),
    # every cell quoted
    ('"id","x"\n"1","1.5"\n"2",""\n"3","3.5"\n', '"id","x"\n"1","1.5"\n"2","2.5"\n"3","3.5"\n'),
    # quotes only where needed
    ('id,name,x\n1,"a, b",1.5\n2,c,\n3,d,3.5\n', 'id,name,x\n1,"a, b",1.5\n2,c,2.5\n3,d,3.5\n'),
    # Excel's "CSV UTF-8": a byte order mark, kept
    ('\ufeffid,x\n1,1.5\n2,\n3,3.5\n', '\ufeffid,x\n1,1.5\n2,2.5\n3,3.5\n'),
    # numbers with an exponent: a whole filled value is written without ".0"
    ('id,x\n1,1e3\n2,\n3,3e3\n', 'id,x\n1,1e3\n2,2000\n3,3e3\n'),
])
def test_the_file_comes_back_as_it_was_but_for_the_filled_cells(tmp_path, capsys, before,
                                                                   after):
    src = write(tmp_path / "in.csv", before.encode())
    out = tmp_path / "out.csv"
    code, _, _ = run(capsys, src, "--out", out, "--method", "interpolate")
    assert code == 0 and out.read_bytes() == after.encode()


def test_semicolon_delimited_file(tmp_path, capsys):
    src = write(tmp_path / "in.csv", "x;y\n1;2\n;4\n3;6\n")
    out = tmp_path / "out.csv"
    assert run(capsys, src, "--out", out, "--method", "mean")[0] == 0
    assert out.read_text() == "x;y\n1;2\n2;4\n3;6\n"


def test_a_blank_line_in_a_one_column_file_is_an_empty_cell(tmp_path, capsys):
    src = write(tmp_path / "in.csv", "\nlevel\n1\n\n3\n4\n\n\n")
    out = tmp_path / "out.csv"
    code, stdout, _ = run(capsys, src, "--out", out, "--method", "median")
    assert code == 0 and "filled 1 empty cell in 1 numeric column of 4 rows" in stdout
    assert out.read_text() == "level\n1\n3\n3\n4\n"  # the row stays in its place


def test_decimal_commas_in_a_semicolon_file(tmp_path, capsys):
    # as a spreadsheet in much of Europe saves it: ';' between fields, ',' before decimals
    src = write(tmp_path / "in.csv", "site;temp;rain\nA;1,5;0\nB;;2\nC;-0,5;\nD;2,25;4\n")
    out = tmp_path / "out.csv"
    code, stdout, _ = run(capsys, src, "--out", out, "--method", "mean")
    assert code == 0
    assert "filled 2 empty cells in 2 numeric columns of 4 rows" in stdout
    assert "kept as text (not numeric, not filled): 'site'" in stdout
    # mean of 1.5, -0.5, 2.25 = 1.08333, written with the column's comma and two decimals
    assert out.read_text() == "site;temp;rain\nA;1,5;0\nB;1,08;2\nC;-0,5;2\nD;2,25;4\n"


def test_a_comma_file_never_reads_commas_as_decimals(tmp_path, capsys):
    # "1,5" quoted in a comma-delimited file is text, not 1.5 (it could be a thousands mark)
    src = write(tmp_path / "in.csv", 'a,b\n"1,5",1\n"2,5",\n"3,5",3\n')
    code, stdout, _ = run(capsys, src, "--out", tmp_path / "out.csv", "--method", "mean")
    assert code == 0 and "filled 1 empty cell in 1 numeric column of 3 rows" in stdout
    assert "kept as text (not numeric, not filled): 'a'" in stdout


BAD = {
    "not_csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a CSV file"),
    "empty": ("", "is empty"),
    "no_numeric": ("a,b\nx,y\nz,w\n", "no numeric column"),
    "text_in_numeric": ("a,b\n1,2\n3,oops\n5,6\n7,8\n",
                        "column 'b' holds text 'oops' in data row 2"),
    "infinite": ("a,b\n1,2\n3,inf\n5,6\n",
                 "column 'b' holds an infinite value 'inf' in data row 2"),
    "ragged": ("a,b\n1,2\n3,4,5\n", "data row 2 has 3 fields but the header has 2"),
    "empty_column": ("a,b,c\n1,,2\n3,NA,4\n", "column 'b' is entirely empty"),
    "trailing_delimiter": ("a,b,\n1,2,\n3,4,\n", "column 3 is entirely empty (a delimiter at "
                                                     "the end of every line?)"),
    "header_only": ("a,b\n", "no data rows"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_error_and_writes_nothing(tmp_path, capsys, case):
    content, message = BAD[case]
    src = write(tmp_path / "in.csv", content)
    out = tmp_path / "out.csv"
    code, stdout, err = run(capsys, src, "--out", out, "--method", "mean")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_out_equal_to_input_is_an_error(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    code, _, err = run(capsys, src, "--out", src, "--force", "--method", "mean")
    assert code == 2 and "is the input file" in err
    assert src.read_text() == GOOD


def test_unknown_method_lists_valid_ones(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, src, "--out", out, "--method", "magic")
    assert code == 2
    assert "unknown imputation method 'magic'; choose auto or one of: mean, median" in err
    assert not out.exists()


def test_param_sets_an_option_of_the_method(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    heights = {"1.62", "1.80", "1.70", "1.55", "1.91"}
    for params, one_of_them in ((["--param", "n_neighbors=1"], True), ([], False)):
        out = tmp_path / f"out{len(params)}.csv"
        code, stdout, _ = run(capsys, src, "--out", out, "--method", "knn", *params)
        assert code == 0 and ("(n_neighbors=1)" in stdout) == one_of_them
        bob_height = list(csv.reader(out.open()))[2][2]
        # one neighbour copies a real height; five (the default) average to a new one
        assert (bob_height in heights) == one_of_them


def test_param_makes_nearest_station_work_on_any_station_layout(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a1 = rng.normal(size=40)
    data = np.column_stack([a1, rng.normal(size=40), 3 * a1 + 1, rng.normal(size=40)])
    lines = ["a1,b1,a2,b2"] + [",".join(f"{v:.4f}" for v in row) for row in data]
    lines[6] = ",".join(["", *lines[6].split(",")[1:]])  # a gap in a1 at data row 6
    src = write(tmp_path / "in.csv", "\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, src, "--out", out, "--method", "nearest-station")
    assert code == 2 and "--param n_variables=N" in err and not out.exists()
    code, _, _ = run(capsys, src, "--out", out, "--method", "nearest-station",
                     "--param", "n_variables=2")
    assert code == 0
    filled = float(list(csv.reader(out.open()))[6][0])
    assert filled == pytest.approx(a1[5], abs=1e-3)  # a1 = (a2 - 1) / 3: station 2 donates


@pytest.mark.parametrize(("params", "message"), [
    (["k=3"], "imputer 'knn' has no parameter 'k'; its parameters and their defaults: "),
    (["n_neighbors=0"], "knn with n_neighbors=0: The 'n_neighbors' parameter"),
    (["n_neighbors"], "--param wants KEY=VALUE, got 'n_neighbors'"),
    (["=3"], "--param wants KEY=VALUE, got '=3'"),
])
def test_bad_param_is_one_line_error_and_writes_nothing(tmp_path, capsys, params, message):
    src = write(tmp_path / "in.csv", GOOD)
    out = tmp_path / "out.csv"
    argv = [arg for param in params for arg in ("--param", param)]
    code, _, err = run(capsys, src, "--out", out, "--method", "knn", *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith("error: ")
    if "no parameter" in message:
        assert "n_neighbors=5" in err  # the list names each parameter with its default
    assert not out.exists()


def test_param_reaches_gain_and_its_bad_values_are_errors(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    code, _, err = run(capsys, src, "--out", tmp_path / "out.csv", "--method", "gain",
                       "--param", "forest_max_columns=0")
    assert code == 2 and "gain with forest_max_columns=0: forest_max_columns must be" in err
    code, _, err = run(capsys, src, "--out", tmp_path / "out.csv", "--method", "gain",
                       "--param", "hint_rate=high")
    assert code == 2 and "hint_rate must be a number in [0, 1], got 'high'" in err


def test_evaluate_scores_the_method_with_its_params(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    code, stdout, _ = run(capsys, src, "--evaluate", "0.3", "--compare", "mean,knn",
                          "--method", "knn", "--param", "n_neighbors=2")
    assert code == 0 and "(knn with n_neighbors=2)" in stdout


def series_csv(path, rows: int = 300, shuffle: bool = False):
    """Three smooth hourly series (one a linear mix of the others) with 5% of cells empty;
    ``shuffle`` puts the rows out of time order."""
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    a, b = np.sin(t / 12), np.cos(t / 20)
    data = np.column_stack([a, b, a + 2 * b]) + 0.01 * rng.normal(size=(rows, 3))
    data = data[rng.permutation(rows)] if shuffle else data
    data[rng.random(data.shape) < 0.05] = np.nan
    lines = ["a,b,c"] + [",".join("" if np.isnan(v) else f"{v:.4f}" for v in row)
                         for row in data]
    return write(path, "\n".join(lines) + "\n")


def test_auto_fills_a_time_series_with_a_method_that_uses_the_next_rows(tmp_path, capsys):
    src = series_csv(tmp_path / "in.csv")
    code, stdout, err = run(capsys, src, "--out", tmp_path / "out.csv")  # --method auto
    assert code == 0
    chosen = stdout.split("--method auto chose ")[1].split(":")[0]
    assert chosen in ("interpolate", "window-gain")
    table = stdout.split("\n")[2:8]  # every candidate scored, best RMSE first
    assert sorted(line.split()[0] for line in table) == sorted(AUTO_METHODS)
    assert table[0].split()[0] == chosen
    assert f"with {chosen}; wrote" in stdout and "choosing a method" in err


def test_auto_chooses_the_lowest_error(tmp_path, monkeypatch):
    import fashionlab.impute.table as table_module

    monkeypatch.setattr(table_module, "AUTO_METHODS", ("mean", "interpolate", "mice"))
    for shuffle, best in ((False, "interpolate"), (True, "mice")):  # rows in time order or not
        values = read_table(series_csv(tmp_path / f"{shuffle}.csv", shuffle=shuffle)).values
        method, scores, note = choose_method(values, seed=0)
        assert note == "" and method == best
        assert method == min(scores, key=lambda row: row["rmse"])["method"]


def test_auto_on_a_table_too_small_to_choose_on_says_so(tmp_path, capsys):
    wide = ",".join(f"c{j}" for j in range(WIDE + 1))  # wider than WIDE: MICE, not GAIN
    rows = [",".join(str((i * j) % 7) for j in range(WIDE + 1)) for i in range(1, 4)]
    rows[0] = "," + rows[0].split(",", 1)[1]  # one gap
    src = write(tmp_path / "in.csv", "\n".join([wide, *rows]) + "\n")
    code, stdout, err = run(capsys, src, "--out", tmp_path / "out.csv")
    assert code == 0 and "choosing a method" not in err
    assert ("--method auto chose mice without scoring: 92 observed cells are too few to "
            "choose on (it hides 0.1 of them and needs 500 to hide 50)") in stdout
    assert "with mice; wrote" in stdout


def test_param_needs_a_named_method(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    code, _, err = run(capsys, src, "--out", tmp_path / "out.csv", "--param", "k=1")
    assert code == 2 and "--param sets options of a named --method, not of auto" in err
    assert not (tmp_path / "out.csv").exists()


def test_missing_input_file(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "nope.csv", "--out", tmp_path / "out.csv")
    assert code == 2 and "does not exist" in err


def test_read_table_detects_text_columns(tmp_path):
    table = read_table(write(tmp_path / "in.csv", GOOD))
    assert [table.header[j] for j in table.numeric] == ["id", "height", "weight", "count"]
    assert np.isnan(table.values).sum() == 4


def test_each_long_step_is_announced_on_stderr(tmp_path, capsys):
    src = write(tmp_path / "in.csv", GOOD)
    code, stdout, err = run(capsys, src, "--out", tmp_path / "out.csv", "--method", "mean",
                            "--evaluate", "0.2", "--compare", "mean,median")
    assert code == 0 and "filled 4 empty cells" in stdout and "..." not in stdout
    assert err.splitlines() == [
        "scoring 2 methods on 0.2 of the observed cells of 4 numeric columns of 6 rows...",
        "  mean...",
        "  median...",
        "filling 4 empty cells in 4 numeric columns of 6 rows with mean...",
    ]


def test_a_table_wider_than_the_gain_defaults_were_timed_on_gets_a_warning():
    from fashionlab.impute.table import WIDE, _slow_note

    assert _slow_note("gain", WIDE) == "" and _slow_note("knn", 300) == ""
    assert f"({WIDE + 1} columns: GAIN's default fit grows" in _slow_note("gain", WIDE + 1)
    assert "--method knn" in _slow_note("gain", 300)


def test_a_library_warning_is_one_line(tmp_path):
    import subprocess
    import sys

    src = write(tmp_path / "in.csv", GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "fashionlab.cli", "impute", str(src), "--out",
         str(tmp_path / "out.csv"), "--method", "mice", "--param", "max_iter=1"],
        capture_output=True, text=True, check=True)
    assert "warning: [IterativeImputer] Early stopping criterion not reached." in done.stderr
    assert "warnings.warn" not in done.stderr and ".py:" not in done.stderr
