"""Fill the empty numeric cells of a CSV file: reading, checking, imputing, writing.

The file is read as text with Python's ``csv`` module (the delimiter is
detected among ``, ; TAB |``), so every cell keeps its exact text: text
columns, observed numbers and the row order come back byte for byte, and only
the empty cells of numeric columns get a value. A column is *numeric* when every
non-empty cell is a number; a column where most cells are numbers but a few are
text is an error that names the cell (it is a typo more often than a text
column). Empty cells are ``""`` and the usual markers ``NA``, ``NaN``, ``null``...
In a file not delimited by commas, numbers may use a decimal comma (``1,5``, as
spreadsheets write them in much of Europe); such a column's filled cells use it too.

The output is written atomically to a new file; the input is never touched. It quotes
cells as the input did (only where needed, R's names-and-text, or every cell) and keeps
its line ending and byte order mark, so a diff of the two files shows only the lines
with filled cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, get_imputer_class, make_imputer
from fashionlab.impute.evaluation import (  # noqa: F401  (AUTO_METHODS: re-exported)
    AUTO,
    AUTO_FRACTION,
    AUTO_METHODS,
    WIDE,
    auto_methods,
    choose_method,
    evaluate_methods,
    fit_fill,
)
from fashionlab.impute.patterns import PATTERNS, load_mask, named_groups, pattern_mask, save_mask
from fashionlab.options import format_key_values, fraction, option
from fashionlab.runtime.runs import atomic_write_bytes, prepare_output_file

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
DELIMITERS = ",;\t|"
DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")  # 1,5  -0,25  ,5 (not 1,000.5 nor 1,2,3)


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
    def text_columns(self) -> list[str]:
        """Names of the columns kept as text (never filled)."""
        return [name for j, name in enumerate(self.header) if j not in self.numeric]


def read_table(path: str | Path) -> Table:
    """Read and check a CSV file; every problem is a one-line ``FashionlabError``."""
    path = Path(path)
    if not path.is_file():
        raise FashionlabError(f"{path} does not exist or is not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise FashionlabError(f"{path} is empty; give a CSV file with a header row and data")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FashionlabError(f"{path} is not a CSV file (not UTF-8 text)") from None
    if "\x00" in text:
        raise FashionlabError(f"{path} is not a CSV file (it holds binary data)")
    delimiter = _detect_delimiter(text)
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise FashionlabError(f"{path} is not a valid CSV file: {exc}") from None
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
                 _detect_quoting(text, delimiter), "\r\n" if "\r\n" in text else "\n",
                 raw.startswith(codecs.BOM_UTF8))


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
    values = np.full(len(cells), np.nan)
    bad: list[int] = []
    filled = 0
    for i, cell in enumerate(cells):
        cell = cell.strip()
        if cell.lower() in MISSING_MARKERS:
            continue
        filled += 1
        try:
            values[i] = float(cell)
        except ValueError:
            bad.append(i)
    if filled == 0:
        hint = "" if name.strip() else " (a delimiter at the end of every line?)"
        raise FashionlabError(
            f"{path}: {label} is entirely empty{hint}; drop it or fill it before imputing"
        )
    if len(bad) * 2 >= filled:
        return None  # mostly text: a text column, kept as it is
    if bad:
        i = bad[0]
        raise FashionlabError(
            f"{path}: numeric {label} holds text {cells[i].strip()!r} in data row {i + 1}; "
            "fix the cell or leave it empty"
        )
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        i = int(infinite[0])
        raise FashionlabError(
            f"{path}: {label} holds an infinite value {cells[i].strip()!r} in data row {i + 1}; "
            "replace it with a number or leave it empty"
        )
    return values


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


def write_table(table: Table, filled: np.ndarray, path: Path, flags: bool) -> int:
    """Write ``table`` with its empty numeric cells taken from ``filled``; returns cells filled.
    Cells are quoted as the input quoted them (``table.quoting``), with its line ending and
    its byte order mark, if it had one."""
    missing = np.isnan(table.values)
    header = list(table.header)
    flagged = [k for k in range(len(table.numeric)) if flags and missing[:, k].any()]
    taken = set(header)
    for k in flagged:
        name = f"{table.header[table.numeric[k]]}_imputed"
        while name in taken:
            name += "_"
        taken.add(name)
        header.append(name)
    numeric = set(table.numeric)
    lines = [_csv_line(header, [table.quoting != "minimal"] * len(header), table.delimiter)]
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
    text = table.newline.join(lines) + table.newline
    atomic_write_bytes(path, text.encode("utf-8-sig" if table.bom else "utf-8"))
    return int(missing.sum())


def _csv_line(cells: list[str], quote: list[bool], delimiter: str) -> str:
    """One CSV line: a cell in quotes where ``quote`` says so or where it must be (it holds
    the delimiter, a quote or a line break; quotes inside are doubled)."""
    return delimiter.join(
        '"' + cell.replace('"', '""') + '"'
        if wanted or any(c in cell for c in (delimiter, '"', "\n", "\r")) else cell
        for cell, wanted in zip(cells, quote, strict=True))


def check_output_path(input_path: Path, out: Path, force: bool) -> Path:
    """Refuse to overwrite the input, or an existing file without ``force``."""
    out = Path(out).expanduser()
    same = out.resolve() == input_path.resolve() or (
        out.exists() and input_path.exists() and os.path.samefile(out, input_path)
    )
    if same:
        raise FashionlabError(f"--out {out} is the input file; choose a new file name")
    if out.exists() and not force:
        raise FashionlabError(f"{out} already exists; choose another --out or pass --force")
    return prepare_output_file(out)


# --------------------------------------------------------------------------- the command


@dataclass
class ImputeConfig:
    """What ``fashionlab impute`` does."""

    input: Path = option(help="CSV file to read (never written)", positional=True)
    out: Path | None = option(None, "CSV file to write (must not exist, see --force); none: "
                              "evaluate only")
    method: str = option(
        AUTO, f"auto, or one of: {', '.join(IMPUTERS)} (for rows in time order, an hourly "
        "series, interpolate, locf and window-gain use the neighbouring rows). auto scores "
        f"{', '.join(AUTO_METHODS)} on {AUTO_FRACTION:g} of the observed cells, hidden, and "
        "fills with the best")
    force: bool = option(False, "overwrite an existing --out file")
    flags: bool = option(False, "add a <column>_imputed column (1 = filled) for each column "
                         "with gaps")
    evaluate: float | None = option(
        None, "hide this fraction of the observed numeric cells and print each method's error "
        "on them", parse=fraction, metavar="FRACTION")
    evaluate_methods: tuple[str, ...] | None = option(
        None, "comma-separated methods that --evaluate scores (default: the candidates of "
        f"auto: {','.join(AUTO_METHODS)})", flag="--compare", metavar="NAMES",
        parse=lambda text: tuple(text.split(",")))
    pattern: str = option(
        "random", f"shape of the cells --evaluate hides, one of: {', '.join(PATTERNS)} (block: "
        "runs drawn from each column's own gap lengths; outage: every column of one station, "
        "named <station>_<variable>, see --groups; subsequence: runs of 24 rows)")
    groups: tuple[str, ...] | None = option(
        None, "comma-separated column-name prefixes, one per station, for --pattern outage "
        "(default: the names before '_', else every column at once)", metavar="PREFIXES",
        parse=lambda text: tuple(text.split(",")))
    mask_file: Path | None = option(
        None, "score on the cells marked 1 in this mask (.npy or CSV of 0/1, one row per data "
        "row, one column per numeric column) instead of --evaluate's")
    save_mask: Path | None = option(None, "write the cells --evaluate hid to this file (.npy "
                                    "or CSV of 0/1), for --mask-file")
    samples: int | None = option(None, "draw this many fills (window-gain): write the median "
                                 "and a calibrated 90% interval, <col>_q05 and <col>_q95")
    seed: int = option(0, "seeds the imputer and the hidden cells")
    params: dict = option(
        factory=dict, flag="--param",
        help="a keyword argument of the --method imputer, VALUE as JSON (repeatable; --evaluate "
        "scores that method with it too), e.g. --method knn --param n_neighbors=10; an unknown "
        "KEY lists the method's parameters")


@dataclass
class ImputeResult:
    """What ``impute_csv`` did: cells filled, file written, and evaluation rows."""

    rows: int
    numeric_columns: list[str]
    text_columns: list[str]  # kept as they are, never filled
    missing_cells: int
    out: Path | None
    scores: list[dict] = field(default_factory=list)  # method, mae, rmse, cells, seconds
    method: str | None = None  # the method that filled the file (AUTO's choice)
    choice: list[dict] = field(default_factory=list)  # AUTO's scores, as ``scores``
    choice_note: str = ""  # why AUTO chose without scores, when it did
    intervals: object = None  # --samples: ``fashionlab.impute.intervals.Intervals``


def impute_csv(config: ImputeConfig,
               progress: Callable[[str], None] | None = None) -> ImputeResult:
    """Check everything, then fill the CSV file (and/or evaluate the methods on it).

    ``progress`` receives a line before each long step (the CLI prints it on stderr).
    """
    say = progress or (lambda line: None)
    input_path = Path(config.input).expanduser()
    if config.method == AUTO:
        if config.params:
            raise FashionlabError("--param sets options of a named --method, not of auto")
    elif config.method not in IMPUTERS:
        raise FashionlabError(f"unknown imputation method {config.method!r}; choose auto or "
                              f"one of: {', '.join(IMPUTERS)}")
    else:
        make_imputer(config.method, config.params)  # an unknown parameter fails first
    if config.samples is not None:
        from fashionlab.impute.intervals import check_samples
        check_samples(config.samples, config.method)
    if config.out is None and config.evaluate is None and config.mask_file is None:
        raise FashionlabError("give --out OUTPUT.csv to write the filled file, or --evaluate")
    if config.pattern not in PATTERNS:
        raise FashionlabError(f"unknown gap pattern {config.pattern!r}; choose one of: "
                              f"{', '.join(PATTERNS)}")
    if config.mask_file is not None and config.evaluate is not None:
        raise FashionlabError("give --evaluate FRACTION or --mask-file, not both")
    if config.evaluate is not None and not 0 < config.evaluate < 1:
        raise FashionlabError(
            f"--evaluate must be a fraction between 0 and 1, got {config.evaluate}"
        )
    for name in config.evaluate_methods or ():
        get_imputer_class(name)
    out = check_output_path(input_path, config.out, config.force) if config.out else None
    table = read_table(input_path)
    result = ImputeResult(
        rows=len(table.rows), numeric_columns=[table.header[j] for j in table.numeric],
        text_columns=table.text_columns,
        missing_cells=int(np.isnan(table.values).sum()), out=out,
    )
    columns = len(result.numeric_columns)
    shape = f"{_count(columns, 'numeric column')} of {_count(result.rows, 'row')}"
    if config.evaluate is not None or config.mask_file is not None:
        result.scores = _evaluate(config, table, result.numeric_columns, shape, say)
    if out is not None:
        result.method = config.method
        if config.method == AUTO:
            result.method, result.choice, result.choice_note = choose_method(
                table.values, config.seed, say)
        say(f"filling {_count(result.missing_cells, 'empty cell')} in {shape} with "
            f"{result.method}...{_slow_note(result.method, columns)}")
        if config.samples is None:
            filled = fit_fill(result.method, config.params, config.seed, table.values)
        else:
            from fashionlab.impute.intervals import sample_intervals, with_interval_columns
            result.intervals = sample_intervals(result.method, config.params, table.values,
                                                config.samples, config.seed)
            filled, table = result.intervals.median, with_interval_columns(table, result.intervals)
        write_table(table, filled, out, config.flags)
    return result


def _evaluate(config: ImputeConfig, table: Table, columns: list[str], shape: str,
              say: Callable[[str], None]) -> list[dict]:
    """``--evaluate`` / ``--mask-file``: the scores of each method on the hidden cells."""
    methods = config.evaluate_methods or auto_methods(len(columns))
    note = _slow_note("gain", len(columns)) if "gain" in methods else ""
    if config.mask_file is not None:
        mask = load_mask(config.mask_file, table.values.shape)
        what = f"the cells of {config.mask_file}"
    else:
        groups = named_groups(columns, config.groups) if config.groups else None
        mask = pattern_mask(table.values, config.pattern, config.evaluate, config.seed,
                            columns=columns, groups=groups)
        shaped = "" if config.pattern == "random" else f" ({config.pattern} pattern)"
        what = f"{config.evaluate:g} of the observed cells{shaped}"
        if config.save_mask is not None:
            save_mask(config.save_mask, mask)
    say(f"scoring {_count(len(methods), 'method')} on {what} of {shape}...{note}")
    return evaluate_methods(table.values, config.evaluate, methods, config.seed,
                            {config.method: config.params}, say, mask=mask)


def _slow_note(method: str, columns: int) -> str:
    """A warning for tables wider than the ones the GAN imputer's defaults were timed on."""
    if method != "gain" or columns <= WIDE:
        return ""
    return (f" ({columns} columns: GAIN's default fit grows faster than the number of "
            f"columns: about 1.5 minutes for 500 rows of 60 columns and 20 minutes for 300 "
            f"columns on one core, where --method knn takes under a second; --param n_jobs=-1 "
            f"fits its forests on every core, --param forest_max_columns=15 fitted a "
            f"132-column table in two thirds of the time)")


def format_result(result: ImputeResult, config: ImputeConfig) -> str:
    """The lines ``fashionlab impute`` prints."""
    lines = []
    if result.scores:
        lines.append(
            f"error on {result.scores[0]['cells']:,} hidden cells ({_hidden_how(config)}), "
            "values min-max scaled per column:"
        )
        lines += _score_lines(result.scores)
        if config.params and any(row["method"] == config.method for row in result.scores):
            lines.append(f"({config.method} with {format_key_values(config.params)})")
    if result.choice:
        lines.append(
            f"--method auto chose {result.method}: the lowest RMSE on {result.choice[0]['cells']:,}"
            f" hidden cells ({AUTO_FRACTION:g} of the observed ones, seed {config.seed}):"
        )
        lines += _score_lines(result.choice)
    elif result.choice_note:
        lines.append(f"--method auto {result.choice_note}")
    if result.out is not None:
        given = f" ({format_key_values(config.params)})" if config.params else ""
        lines.append(
            f"filled {_count(result.missing_cells, 'empty cell')} in "
            f"{_count(len(result.numeric_columns), 'numeric column')} of "
            f"{_count(result.rows, 'row')} with {result.method}{given}; wrote {result.out}"
        )
    if result.intervals is not None:
        iv = result.intervals
        lines.append(f"90% intervals from {config.samples} draws: their own 5%-95% spread "
                     f"covered {iv.raw_coverage:.3f} of {iv.cells:,} calibration cells; "
                     f"stretched x{iv.scale:.3g} to cover 0.9 (split conformal)")
    if result.text_columns:
        names = ", ".join(repr(name) for name in result.text_columns)
        lines.append(f"kept as text (not numeric, not filled): {names}")
    return "\n".join(lines)


def _hidden_how(config: ImputeConfig) -> str:
    if config.mask_file is not None:
        return f"the cells marked in {config.mask_file}"
    shape = "" if config.pattern == "random" else f", pattern {config.pattern}"
    return f"{config.evaluate:g} of the observed numeric cells{shape}, seed {config.seed}"


def _score_lines(scores: list[dict]) -> list[str]:
    """A table of methods, best RMSE first."""
    lines = [f"{'method':<12} {'MAE':>8} {'RMSE':>8} {'seconds':>8}"]
    for row in sorted(scores, key=lambda r: r["rmse"]):
        lines.append(
            f"{row['method']:<12} {row['mae']:>8.4f} {row['rmse']:>8.4f} {row['seconds']:>8.1f}"
        )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
