"""Inputs at the edges (issue 27): values near 1e308, Python-only number forms, unclosed
quotes, old-Mac line endings in a CSV, and a gzip bomb in place of Fashion-MNIST."""

from __future__ import annotations

import gzip
import math
import struct
import tracemalloc

import numpy as np
import pytest

import fashionlab.data.fashion_mnist as fm
from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from tiny_runs import one_error_line


def impute(capsys, tmp_path, text: str | bytes, *options: str) -> tuple[int, str, str, bytes]:
    """Run ``impute`` on ``text``; returns the status, stdout, stderr and the output bytes."""
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(text if isinstance(text, bytes) else text.encode())
    out.unlink(missing_ok=True)
    code = main(["impute", str(src), "--out", str(out), *options])
    stdout, err = capsys.readouterr()
    return code, stdout, err, out.read_bytes() if out.exists() else b""


HUGE = "a,b\n1e308,1\n1.5e308,2\n,3\n1.7e308,\n1.2e308,5\n"


@pytest.mark.parametrize("method", ["mean", "median", "mice", "auto"])
def test_values_near_the_float64_limit_are_refused(capsys, tmp_path, method):
    code, stdout, err, written = impute(capsys, tmp_path, HUGE, "--method", method)
    line = one_error_line(code, err)
    assert "column 'a' holds '1e308' in data row 1" in line and "overflow" in line
    assert written == b"" and stdout == ""


@pytest.mark.parametrize("method", ["mean", "median", "mice"])
def test_large_values_below_the_limit_are_filled_with_finite_numbers(capsys, tmp_path, method):
    code, _, _, written = impute(capsys, tmp_path, HUGE.replace("e308", "e149"),
                                 "--method", method)
    assert code == 0
    filled = [line.split(",") for line in written.decode().splitlines()[1:]]
    assert all(math.isfinite(float(cell)) for row in filled for cell in row)


def test_a_fill_that_overflows_is_an_error(capsys, tmp_path, monkeypatch):
    import fashionlab.impute.baselines as baselines

    monkeypatch.setattr(baselines.SimpleImputer, "transform",
                        lambda self, X: np.nan_to_num(X, nan=np.inf))
    code, _, err, written = impute(capsys, tmp_path, "a,b\n1,2\n,3\n4,5\n", "--method", "mean")
    assert "not finite numbers" in one_error_line(code, err) and written == b""


@pytest.mark.parametrize("cell", ["1_000", "١٢", "0x10"])
def test_number_forms_of_python_only_are_text(capsys, tmp_path, cell):
    text = f"a,b\n1,2\n{cell},3\n,4\n5,6\n7,8\n"
    code, _, err, _ = impute(capsys, tmp_path, text, "--method", "mean")
    assert f"numeric column 'a' holds text {cell!r} in data row 2" in one_error_line(code, err)


def test_an_unclosed_quote_is_reported_as_such(capsys, tmp_path):
    text = 'a,b\n1,2\n"3,4\n5,6\n,7\n'
    code, _, err, _ = impute(capsys, tmp_path, text, "--method", "mean")
    line = one_error_line(code, err)
    assert "a quote opened in line 3 is never closed" in line and "ragged" not in line


def test_text_after_a_closing_quote_names_its_line(capsys, tmp_path):
    code, _, err, _ = impute(capsys, tmp_path, 'a,b\n1,2\n"3"x,4\n,5\n', "--method", "mean")
    assert "line 3 is not valid CSV" in one_error_line(code, err)


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_line_endings_come_back_as_they_were(capsys, tmp_path, newline):
    text = newline.join(["a,b", "1,2", ",3", "4,", "5,6"]) + newline
    code, _, _, written = impute(capsys, tmp_path, text, "--method", "mean")
    assert code == 0
    assert written == newline.join(["a,b", "1,2", "3,3", "4,4", "5,6"]).encode() + \
        newline.encode()


# --------------------------------------------------------------------------- a gzip bomb


def gzip_bomb(path, header: bytes, zeros: int) -> None:
    """An IDX header and ``zeros`` zero bytes, gzip'd: a few kilobytes on disk."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for _ in range(zeros >> 20):
            f.write(chunk)


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    name = "train-images-idx3-ubyte.gz"
    bomb = tmp_path / name
    gzip_bomb(bomb, struct.pack(">IIII", 2051, 60_000, 28, 28), 128 << 20)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(FashionlabError, match="holds more than the 47,040,016 bytes"):
            fm.read_idx_file(bomb, fm.FILES[name], fm.SIZES[name])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < fm.SIZES[name] * 1.5  # at most the file's real size was ever inflated


def test_a_gzip_bomb_through_the_cli(capsys, tmp_path):
    gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", struct.pack(">IIII", 2051, 1, 28, 28),
              64 << 20)
    for name in list(fm.FILES)[1:]:
        (tmp_path / name).write_bytes(gzip.compress(b"x"))
    code = main(["show", "--data-dir", str(tmp_path), "--out", str(tmp_path / "s.png")])
    assert "holds more than" in one_error_line(code, capsys.readouterr().err)


def test_the_sizes_are_those_of_the_real_files(fashion_dir):
    for name, size in fm.SIZES.items():
        with gzip.open(fashion_dir / name) as f:
            assert len(f.read()) == size


def test_a_damaged_gzip_stream_is_still_a_clear_error(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    good = gzip.compress(struct.pack(">II", 2049, 10_000) + bytes(10_000))
    path.write_bytes(good[:20] + bytes(len(good) - 20))  # the deflate stream zeroed
    with pytest.raises(FashionlabError, match="not a complete gzip file"):
        fm.read_idx_file(path, fm.FILES[path.name], fm.SIZES[path.name])
