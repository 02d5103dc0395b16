"""A CSV file read in chunks of rows, by the rules :func:`fashionlab.impute.csv_io.read_table`
reads a whole file with: the same ``csv`` reader (strict quotes), delimiter, quoting, line
ending and byte order mark detected from its first lines, blank lines skipped (in a
one-column file, a blank line inside the data is an empty cell), a ragged row an error
that names it. Memory holds one chunk, not the file.

Python's ``csv`` module rather than ``pandas.read_csv(chunksize=...)``: it is the reader of
the whole-file path, so a file read in chunks gives the same cells, byte for byte (pandas
reads a one-column file's blank lines, short rows and stray quotes differently).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fashionlab.errors import FashionlabError
from fashionlab.impute.csv_io import _detect_delimiter, _detect_newline, _detect_quoting

HEAD_BYTES = 1 << 16  # the start of the file that the delimiter, quoting and newline come from


@dataclass
class CsvFormat:
    """How a CSV file is written, as ``csv_io.Table`` records it."""

    delimiter: str
    quoting: str  # "minimal", "text" (R's) or "all"
    newline: str
    bom: bool


def csv_format(path: Path) -> CsvFormat:
    """The format of the CSV file at ``path``, from its first lines."""
    if not path.is_file():
        raise FashionlabError(f"{path} does not exist or is not a file")
    with open(path, "rb") as f:
        raw = f.read(HEAD_BYTES)
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(raw)
    except UnicodeDecodeError:
        raise FashionlabError(f"{path} is not a CSV file (not UTF-8 text)") from None
    if not text.strip():
        raise FashionlabError(f"{path} is empty; give a CSV file with a header row and data")
    if "\x00" in text:
        raise FashionlabError(f"{path} is not a CSV file (it holds binary data)")
    delimiter = _detect_delimiter(text)
    return CsvFormat(delimiter, _detect_quoting(text, delimiter), _detect_newline(text),
                     raw.startswith(codecs.BOM_UTF8))


def read_chunks(path: Path, fmt: CsvFormat, size: int
                ) -> tuple[list[str], Iterator[list[list[str]]]]:
    """The header and an iterator over chunks of at most ``size`` data rows."""
    rows = _rows(path, fmt)
    header = next(rows, None)
    if header is None:
        raise FashionlabError(f"{path} is empty; give a CSV file with a header row and data")

    def chunks() -> Iterator[list[list[str]]]:
        chunk, count = [], 0
        for row in rows:
            count += 1
            if len(row) != len(header):
                raise FashionlabError(
                    f"{path}: data row {count} has {len(row)} fields but the header has "
                    f"{len(header)}; fix the ragged row")
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        if not count:
            raise FashionlabError(f"{path} has a header but no data rows")

    return header, chunks()


def _rows(path: Path, fmt: CsvFormat) -> Iterator[list[str]]:
    """The header and the data rows, blank lines handled as ``read_table`` does."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=fmt.delimiter, strict=True)
        line = 0
        header, blanks = None, 0
        try:
            for row in reader:
                if header is None:
                    if row:
                        header = row
                        yield row
                elif not row:
                    blanks += 1  # kept back: blank lines at the end are dropped
                else:
                    if len(header) == 1:  # one column: a blank line is an empty cell
                        yield from ([""] for _ in range(blanks))
                    blanks = 0
                    yield row
                line = reader.line_num
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise FashionlabError(f"{path}: a quote opened in line {line + 1} is never "
                                      "closed; close it, or remove it") from None
            raise FashionlabError(f"{path} line {reader.line_num} is not valid CSV: "
                                  f"{exc}") from None
        except UnicodeDecodeError:
            raise FashionlabError(f"{path} is not a CSV file (not UTF-8 text)") from None
