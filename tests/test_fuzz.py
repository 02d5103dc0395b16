"""Fuzzing (issue 27): seeded random mutations of a small valid CSV through ``impute`` and of
small valid PNG and JPEG files through ``predict``. Every case must end in exit status 0
with a complete output, or in exit status 2 with exactly one ``error:`` line, and leave its
input file as it was. A failing case names its seed and the bytes it ran on."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_fashion, write_untrained_classifier_run
from fashionlab.cli import main
from fashionlab.impute.csv_io import read_table

pytestmark = pytest.mark.usefixtures("one_thread")

CSV = '''station,when,pm25,temp,wind,note
A,2024-01-01 00:00,12.5,-1.25,3,ok
A,2024-01-01 01:00,,-1.5,2,"gusty, cold"
A,2024-01-01 02:00,15.0,NA,,
B,2024-01-01 00:00,40.25,0.5,1,ok
B,2024-01-01 01:00,38.0,,1,"said ""hi"""
B,2024-01-01 02:00,,0.75,0,
'''
CELLS = ["", "NA", "nan", "NaN", "inf", "-Infinity", "1e308", "-1.7976931348623157e308",
         "1e400", "1e-320", "1_000", '"', '""', "x", " 7 ", "0x1f", "+nan", "١٢", "1,5", "\t",
         "\r", "\x00", "é", "1e", "--3", "9" * 400]
METHODS = ("mean", "median", "locf", "interpolate", "knn", "mean") * 2 + ("mice",)  # mice: slow
CSV_CASES, IMAGE_CASES = 156, 80  # 35 s of calls with the load average at 9 on 2 cores


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits of ``data``: byte flips, insertions, deletions, cuts,
    quotes, a cell replaced by an odd value, lines dropped or doubled, endings changed."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip a byte
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        elif kind == 1:  # insert random bytes
            data = data[:at] + rng.randbytes(rng.randint(1, 8)) + data[at:]
        elif kind == 2:  # delete a run of bytes
            data = data[:at] + data[at + rng.randint(1, 40):]
        elif kind == 3:  # truncate
            data = data[:at]
        elif kind == 4:  # a stray quote
            data = data[:at] + b'"' + data[at:]
        elif kind == 5:  # a cell replaced by an odd value
            lines = data.split(b"\n")
            row = rng.randrange(len(lines))
            cells = lines[row].split(b",")
            cells[rng.randrange(len(cells))] = rng.choice(CELLS).encode()
            lines[row] = b",".join(cells)
            data = b"\n".join(lines)
        elif kind == 6:  # a line dropped or doubled
            lines = data.split(b"\n")
            row = rng.randrange(len(lines))
            lines[row:row + 1] = [] if rng.random() < 0.5 else [lines[row]] * 2
            data = b"\n".join(lines)
        elif kind == 7:  # other line endings or delimiters
            data = data.replace(b"\n", rng.choice([b"\r", b"\r\n", b"\n\n"]))
            if rng.random() < 0.3:
                data = data.replace(b",", rng.choice([b";", b"\t", b"|"]))
        else:  # empty, or a byte order mark
            data = rng.choice([b"", b"\xef\xbb\xbf" + data, b" \n", data * 2])
    return data


def run_case(argv: list[str], capsys, case: str) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except BaseException as exc:  # noqa: BLE001 (the case is reported, with its bytes)
        pytest.fail(f"{case} raised {exc!r}")
    out, err = capsys.readouterr()
    return code, out, err


def check_failure(code: int, err: str, case: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and lines[-1] == errors[0], f"{case}: {code} {err}"
    assert "Traceback" not in err, case


def test_random_csv_bytes_through_impute(capsys, tmp_path):
    rng = random.Random(27)
    counts = {0: 0, 2: 0}
    for i in range(CSV_CASES):
        data = mutate(CSV.encode(), rng)
        method = METHODS[i % len(METHODS)]
        src, out = tmp_path / f"in{i}.csv", tmp_path / f"out{i}.csv"
        src.write_bytes(data)
        case = f"case {i} (--method {method}, input {data!r})"
        code, stdout, err = run_case(["impute", str(src), "--out", str(out), "--method", method],
                                     capsys, case)
        assert src.read_bytes() == data, case
        counts[code] = counts.get(code, 0) + 1
        if code == 0:
            filled, original = read_table(out), read_table(src)
            assert len(filled.rows) == len(original.rows), case
            assert not np.isnan(filled.values).any() and np.isfinite(filled.values).all(), case
            assert f"; wrote {out}\n" in stdout, case
        else:
            check_failure(code, err, case)
            assert not out.exists(), case
        assert not list(tmp_path.glob(".*.tmp")), case
    assert counts[0] >= CSV_CASES // 5 and counts[2] >= CSV_CASES // 5, counts  # both kinds


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    return write_untrained_classifier_run(tmp_path_factory.mktemp("fuzz") / "run")


def picture_bytes(fmt: str) -> bytes:
    image = Image.fromarray(255 - synthetic_fashion(n_train=10, n_test=1).test_images[0].numpy())
    buffer = io.BytesIO()
    image.resize((40, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_random_image_bytes_through_predict(capsys, tmp_path, classifier):
    rng = random.Random(27)
    originals = {"png": picture_bytes("PNG"), "jpg": picture_bytes("JPEG")}
    counts = {0: 0, 2: 0}
    for i in range(IMAGE_CASES):
        suffix = "png" if i % 2 else "jpg"
        data = mutate(originals[suffix], rng)
        picture = tmp_path / f"p{i}.{suffix}"
        picture.write_bytes(data)
        case = f"case {i} ({picture.name}, {len(data)} bytes, {data[:64]!r}...)"
        code, stdout, err = run_case(["predict", str(classifier), str(picture),
                                      "--device", "cpu"], capsys, case)
        assert picture.read_bytes() == data, case
        counts[code] = counts.get(code, 0) + 1
        if code == 0:
            assert stdout.startswith(f"{picture}: ") and stdout.count("%") == 3, case
            assert "nan" not in stdout, case
        else:
            check_failure(code, err, case)
            assert stdout == "", case
    assert counts[0] >= IMAGE_CASES // 10 and counts[2] >= IMAGE_CASES // 5, counts
