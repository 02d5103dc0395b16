"""CSV files as the imputation command reads and writes them: cells kept as their text.

The file is read as text with Python's ``csv`` module (the delimiter is
detected among ``, ; TAB |``), so every cell keeps its exact text: text
columns, observed numbers and the row order come back byte for byte, and only
the empty cells of numeric columns get a value. A column is *numeric* when every
non-empty cell is a number; a column where most cells are numbers but a few are
text is an error that names the cell (it is a typo more often than a text
column). Empty cells are ``""`` and the usual markers ``NA``, ``NaN``, ``null``...
In a file not delimited by commas, numbers may use a decimal comma (``1,5``, as
spreadsheets write them in much of Europe); such a column's filled cells use it too.

The output quotes cells as the input did (only where needed, R's names-and-text, or
every cell) and keeps its line ending (LF, CRLF or CR) and byte order mark, so a diff
of the two files shows only the lines with filled cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.runtime.files import atomic_write_bytes

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
DELIMITERS = ",;\t|"
DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")  # 1,5  -0,25  ,5 (not 1,000.5 nor 1,2,3)
NEWLINE = re.compile(r"\r\n|\r|\n")
LARGEST = 1e150  # larger values overflow float64 once squared (variances, distances)


@dataclass
class Table:
    """A CSV file as text cells, and its numeric columns as floats (NaN = empty)."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str
    numeric: list[int]  # indexes of the numeric columns
    values: np.ndarray  # (n_rows, len(numeric)) float64, NaN where the cell is empty
    decimals: list[int | None] = field(default_factory=list)  # per numeric column; None = any
    decimal_comma: list[bool] = field(default_factory=list)  # per numeric column: "1,5"
    quoting: str = "minimal"  # the file's quotes: "minimal", "text" (R's) or "all"
    newline: str = "\n"  # the file's line ending ("\r\n" from Windows tools)
    bom: bool = False  # the file starts with a UTF-8 byte order mark (Excel's "CSV UTF-8")

    @property
    def text_indexes(self) -> list[int]:
        """Indexes of the columns kept as text (never filled)."""
        return [j for j in range(len(self.header)) if j not in self.numeric]

    @property
    def text_columns(self) -> list[str]:
        """Names of the columns kept as text (never filled)."""
        return [self.header[j] for j in self.text_indexes]


def read_table(path: str | Path) -> Table:
    """Read and check a CSV file; every problem is a one-line ``FashionlabError``."""
    path = Path(path)
    if not path.is_file():
        raise FashionlabError(f"{path} does not exist or is not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FashionlabError(f"{path} is not a CSV file (not UTF-8 text)") from None
    if not text.strip():  # a byte order mark alone is empty too
        raise FashionlabError(f"{path} is empty; give a CSV file with a header row and data")
    if "\x00" in text:
        raise FashionlabError(f"{path} is not a CSV file (it holds binary data)")
    delimiter = _detect_delimiter(text)
    lines = _csv_rows(path, text, delimiter)
    while not lines[-1]:
        lines.pop()  # blank lines at the end
    lines = lines[next(i for i, row in enumerate(lines) if row):]  # and at the start
    if len(lines[0]) == 1:  # one column: a blank line inside the data is an empty cell
        lines = [row or [""] for row in lines]
    else:
        lines = [row for row in lines if row]  # blank lines between rows
    header, rows = lines[0], lines[1:]
    if len(header) < 2 and not rows:
        raise FashionlabError(f"{path} is not a CSV file: no delimited header and no data rows")
    if not rows:
        raise FashionlabError(f"{path} has a header but no data rows")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise FashionlabError(
                f"{path}: data row {i + 1} has {len(row)} fields but the header has "
                f"{len(header)}; fix the ragged row"
            )
    numeric, columns, decimals, commas = [], [], [], []
    for j, name in enumerate(header):
        cells = [row[j] for row in rows]
        comma = False
        if delimiter != ",":  # a decimal comma is a number only where "," does not delimit
            points = [_comma_to_point(c) for c in cells]
            comma, cells = points != cells, points
        column = _parse_column(path, name, j, cells)
        if column is not None:
            numeric.append(j)
            columns.append(column)
            decimals.append(_decimals(cells))
            commas.append(comma)
    if not numeric:
        raise FashionlabError(f"{path} has no numeric column; nothing to impute")
    return Table(header, rows, delimiter, numeric, np.column_stack(columns), decimals, commas,
                 _detect_quoting(text, delimiter), _detect_newline(text),
                 raw.startswith(codecs.BOM_UTF8))


def _csv_rows(path: Path, text: str, delimiter: str) -> list[list[str]]:
    """The rows of ``text``, read strictly: a quote opened and never closed, or text after
    a closing quote, is an error that names its line (not a ragged row further on)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, line = [], 0
    try:
        for row in reader:
            rows.append(row)
            line = reader.line_num
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise FashionlabError(f"{path}: a quote opened in line {line + 1} is never closed; "
                                  "close it, or remove it") from None
        raise FashionlabError(f"{path} line {reader.line_num} is not valid CSV: {exc}") from None
    return rows


def _detect_newline(text: str) -> str:
    """The file's line ending: that of its first line ("\\n", "\\r\\n", or the old Mac
    "\\r"), so that the output ends its lines the same way."""
    found = NEWLINE.search(text)
    return found.group() if found else "\n"


def _comma_to_point(cell: str) -> str:
    """``1,5`` -> ``1.5``; any other cell as it is (a text cell is then reported as text)."""
    stripped = cell.strip()
    return stripped.replace(",", ".") if DECIMAL_COMMA.fullmatch(stripped) else cell


def _detect_delimiter(text: str) -> str:
    first = text.splitlines()[0] if text.strip() else ""
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _detect_quoting(text: str, delimiter: str) -> str:
    """How the file quotes its cells, from its first two lines: ``"all"`` when every field of
    both is quoted, ``"text"`` when every header field is (R's ``write.csv``: names and text
    quoted, numbers and NA bare), else ``"minimal"`` (only where needed)."""
    lines = [line for line in text.splitlines() if line.strip()][:2]

    def quoted(line: str) -> bool:
        return all(f.startswith('"') and f.endswith('"') for f in line.split(delimiter))

    if all(map(quoted, lines)):
        return "all"
    return "text" if quoted(lines[0]) else "minimal"


def _parse_column(path: Path, name: str, j: int, cells: list[str]) -> np.ndarray | None:
    """Floats (NaN = empty) for a numeric column, None for a text column; errors name the cell."""
    label = f"column {name!r}" if name.strip() else f"column {j + 1}"
    values, filled, bad = parse_numbers(cells)
    if filled == 0:
        hint = "" if name.strip() else " (a delimiter at the end of every line?)"
        raise FashionlabError(
            f"{path}: {label} is entirely empty{hint}; drop it or fill it before imputing"
        )
    if len(bad) * 2 >= filled:
        return None  # mostly text: a text column, kept as it is
    check_numbers(path, label, cells, values, bad)
    return values


def parse_numbers(cells: list[str]) -> tuple[np.ndarray, int, list[int]]:
    """(floats, NaN where a cell is empty or text; how many cells are not empty; indexes of
    the cells that are text)."""
    values = [np.nan] * len(cells)
    bad: list[int] = []
    filled = 0
    for i, cell in enumerate(cells):
        try:  # most cells are plain numbers: float() alone, then the checks of _number
            value = float(cell)
        except ValueError:
            value = None
        if value is not None and value == value and cell.isascii() and "_" not in cell:
            values[i] = value
            filled += 1
            continue
        cell = cell.strip()
        if cell.lower() in MISSING_MARKERS:
            continue
        filled += 1
        value = _number(cell)
        if value is None:
            bad.append(i)
        else:
            values[i] = value
    return np.array(values, dtype=np.float64), filled, bad


def check_numbers(path: Path, label: str, cells: list[str], values: np.ndarray,
                  bad: list[int], first_row: int = 1) -> None:
    """The error for the first text, infinite or too large cell of a numeric column (data
    row numbers count from ``first_row``), if any."""
    if bad:
        i = bad[0]
        raise FashionlabError(
            f"{path}: numeric {label} holds text {cells[i].strip()!r} in data row "
            f"{i + first_row}; fix the cell or leave it empty"
        )
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        i = int(infinite[0])
        raise FashionlabError(
            f"{path}: {label} holds an infinite value {cells[i].strip()!r} in data row "
            f"{i + first_row}; replace it with a number or leave it empty"
        )
    huge = np.flatnonzero(np.abs(values) > LARGEST)
    if len(huge):
        i = int(huge[0])
        raise FashionlabError(
            f"{path}: {label} holds {cells[i].strip()!r} in data row {i + first_row}: values "
            f"beyond ±{LARGEST:g} overflow 64-bit arithmetic in the imputers (sums of "
            "squares); rescale the column (for example, store it in larger units)"
        )


def _number(cell: str) -> float | None:
    """The number a cell holds as spreadsheets write numbers, else None: Python's own forms
    (``1_000``, Arabic-Indic digits, a NaN that is not a missing marker: ``+nan``) are text."""
    if not cell.isascii() or "_" in cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return None if value != value else value


def _decimals(cells: list[str]) -> int | None:
    """Digits after the point used by a column's cells (None if any uses an exponent)."""
    most = 0
    for cell in cells:
        cell = cell.strip()
        if "e" in cell.lower() and cell.lower() not in MISSING_MARKERS:
            return None
        if "." in cell:
            most = max(most, len(cell) - cell.index(".") - 1)
    return most


def format_value(value: float, decimals: int | None, decimal_comma: bool = False) -> str:
    """A filled value written like the column's other cells."""
    if decimals is None:  # the shortest text that reads back as the value: 120.0 -> 120
        text = repr(float(value)).removesuffix(".0")
    elif decimals == 0:
        text = str(int(round(value)))
    else:
        text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if decimal_comma else text


def write_table(table: Table, filled: np.ndarray, path: Path, flags: bool,
                exclusive: bool = False) -> int:
    """Write ``table`` with its empty numeric cells taken from ``filled``; returns cells filled.
    Cells are quoted as the input quoted them (``table.quoting``), with its line ending and
    its byte order mark, if it had one. With ``exclusive``, a file that appeared at ``path``
    since the command started is an error, not replaced (``atomic_write_bytes``)."""
    missing = np.isnan(table.values)
    flagged = [k for k in range(len(table.numeric)) if flags and missing[:, k].any()]
    lines = [header_line(table, flagged), *row_lines(table, filled, flagged)]
    text = table.newline.join(lines) + table.newline
    atomic_write_bytes(path, text.encode("utf-8-sig" if table.bom else "utf-8"), exclusive)
    return int(missing.sum())


def header_line(table: Table, flagged: list[int]) -> str:
    """The header, with a ``<column>_imputed`` name for each numeric column in ``flagged``
    (indexes into ``table.numeric``), made unique."""
    header = list(table.header)
    taken = set(header)
    for k in flagged:
        name = f"{table.header[table.numeric[k]]}_imputed"
        while name in taken:
            name += "_"
        taken.add(name)
        header.append(name)
    return _csv_line(header, [table.quoting != "minimal"] * len(header), table.delimiter)


def row_lines(table: Table, filled: np.ndarray, flagged: list[int]) -> list[str]:
    """The data lines of ``table``, empty numeric cells taken from ``filled`` (rows of
    ``table.values``), a 1/0 flag for each column in ``flagged``."""
    missing = np.isnan(table.values)
    numeric = set(table.numeric)
    lines = []
    for i, row in enumerate(table.rows):
        out = list(row)
        for k, j in enumerate(table.numeric):
            if missing[i, k]:
                out[j] = format_value(filled[i, k], table.decimals[k], table.decimal_comma[k])
        out += ["1" if missing[i, k] else "0" for k in flagged]
        quote = [table.quoting == "all" or (
            table.quoting == "text" and j < len(row) and j not in numeric
            and cell.strip().lower() not in MISSING_MARKERS) for j, cell in enumerate(out)]
        lines.append(_csv_line(out, quote, table.delimiter))
    return lines


def _csv_line(cells: list[str], quote: list[bool], delimiter: str) -> str:
    """One CSV line: a cell in quotes where ``quote`` says so or where it must be (it holds
    the delimiter, a quote or a line break; quotes inside are doubled)."""
    special = _SPECIAL.get(delimiter) or _SPECIAL.setdefault(
        delimiter, re.compile('[\n\r"' + re.escape(delimiter) + "]"))
    return delimiter.join(
        '"' + cell.replace('"', '""') + '"' if wanted or special.search(cell) else cell
        for cell, wanted in zip(cells, quote, strict=True))


_SPECIAL: dict[str, re.Pattern] = {}  # per delimiter: the characters that need quotes
