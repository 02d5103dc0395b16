"""``impute apply`` on a file of any length: read, fill and write it in chunks of rows.

Two passes over the file, each holding one chunk (plus the rows a time-series method
still needs) in memory:

1. *scan*: parse the model's columns, check every cell, the columns, their units and the
   time order, and gather what the output's formatting needs of the whole file (digits
   after the point and decimal commas per column, the columns with gaps for ``--flags``);
   every error comes here, before a line is written;
2. *fill*: parse again, fill, and write each chunk to a temporary file that takes the
   output's name at the end (no output file when anything fails).

A row-wise method fills each chunk on its own. A time-series method needs other rows: with
a ``window`` of L rows, chunks are cut at multiples of L and the rows of an unfinished
window are carried to the next chunk (where its fills read rows beyond the window,
``context_rows``, those after are awaited and whole windows before are carried too); with
``window=None`` (the whole file is one series),
a row is written once every column has an observation at or after it (its fill then no
longer changes), and the rows from each column's last observation on are carried. Memory
then grows with the longest gap, not with the file (a column never observed in the file
is carried to its end: give such methods a ``window`` for big files). The output is the
same, byte for byte, as filling the whole file at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer
from fashionlab.impute.csv_chunks import CsvFormat, csv_format, read_chunks
from fashionlab.impute.csv_io import (
    Table,
    _comma_to_point,
    _decimals,
    check_numbers,
    header_line,
    parse_numbers,
    row_lines,
)
from fashionlab.impute.time_order import TIME_SERIES, TimeOrder
from fashionlab.impute.timeseries import _TimeSeriesImputer
from fashionlab.runtime.files import atomic_writer

CHUNK_ROWS = 50_000  # rows read, filled and written at a time
UNITS_STDS = 10.0  # a new column whose mean is this many history stds away: other units


@dataclass
class Scan:
    """What the first pass learned of the file."""

    numeric: list[int]  # header indexes of the model's columns
    rows: int = 0
    decimals: list[int | None] = field(default_factory=list)
    decimal_comma: list[bool] = field(default_factory=list)
    gaps: np.ndarray | None = None  # per column: has an empty cell
    sums: np.ndarray | None = None  # per column: sum and count of the observed values
    counts: np.ndarray | None = None


def reach(imputer: BaseImputer) -> int | None:
    """How far a row's fill looks at other rows: 0 (row-wise), a window of rows, or None
    (the whole series)."""
    return imputer.window if isinstance(imputer, _TimeSeriesImputer) else 0


def context(imputer: BaseImputer) -> int:
    """Rows before and after each window that its fills also read (see ``reach``)."""
    return imputer.context_rows() if isinstance(imputer, _TimeSeriesImputer) else 0


def model_columns(path: Path, header: list[str], fitted: list[str]) -> list[int]:
    """Header indexes of the ``fitted`` columns; an error when one is missing or they are in
    another order."""
    missing = [c for c in fitted if c not in header]
    if missing:
        raise FashionlabError(f"{path}: the numeric columns differ from the ones the model was "
                              f"fitted on ({len(fitted)} columns): it lacks "
                              f"{', '.join(map(repr, missing[:3]))}")
    numeric = [header.index(c) for c in fitted]
    if numeric != sorted(numeric):
        raise FashionlabError(f"{path}: the numeric columns differ from the ones the model was "
                              f"fitted on ({len(fitted)} columns): they are in another order")
    return numeric


def _parse(path: Path, header: list[str], rows: list[list[str]], numeric: list[int],
           fmt: CsvFormat, first_row: int) -> tuple[np.ndarray, list[list[str]]]:
    """The model columns of ``rows`` as floats (rows, columns), and their cells as read
    (decimal commas as points); every bad cell is an error naming its data row."""
    values, cells_by_column = np.empty((len(rows), len(numeric))), []
    for k, j in enumerate(numeric):
        cells = [row[j] for row in rows]
        if fmt.delimiter != ",":
            cells = [_comma_to_point(c) for c in cells]
        parsed, _, bad = parse_numbers(cells)
        check_numbers(path, f"column {header[j]!r}", cells, parsed, bad, first_row)
        values[:, k] = parsed
        cells_by_column.append(cells)
    return values, cells_by_column


def scan(path: Path, fmt: CsvFormat, meta: dict, size: int, time_series: bool) -> Scan:
    """Pass 1: check the whole file and gather what its output's formatting needs."""
    header, chunks = read_chunks(path, fmt, size)
    fitted = meta["columns"]
    result = Scan(model_columns(path, header, fitted))
    others = [j for j in range(len(header)) if j not in result.numeric]
    numbers_only = {j: True for j in others}  # a non-model column with only numbers so far
    some = set()  # non-model columns with a cell that is not empty
    order = TimeOrder(path, header, others) if time_series else None
    n = len(fitted)
    result.decimals, result.decimal_comma = [0] * n, [False] * n
    result.gaps, result.sums, result.counts = np.zeros(n, bool), np.zeros(n), np.zeros(n)
    for rows in chunks:
        values, cells = _parse(path, header, rows, result.numeric, fmt, result.rows + 1)
        for k, column in enumerate(cells):
            places = _decimals(column)
            old = result.decimals[k]
            result.decimals[k] = None if places is None or old is None else max(old, places)
            result.decimal_comma[k] |= fmt.delimiter != "," and any(
                c != row[result.numeric[k]] for c, row in zip(column, rows, strict=True))
        observed = ~np.isnan(values)
        result.gaps |= (~observed).any(axis=0)
        result.sums += np.where(observed, values, 0).sum(axis=0)
        result.counts += observed.sum(axis=0)
        for j in [j for j, only in numbers_only.items() if only]:
            _, filled, bad = parse_numbers([row[j] for row in rows])
            numbers_only[j] = not bad
            some |= {j} if filled else set()
        if order is not None:
            order.add(rows)
        result.rows += len(rows)
    extra = [header[j] for j, only in numbers_only.items() if only and j in some]
    if extra:
        raise FashionlabError(f"{path}: the numeric columns differ from the ones the model was "
                              f"fitted on ({len(fitted)} columns): it has "
                              f"{', '.join(map(repr, extra[:3]))} the model was not fitted on")
    check_units(path, fitted, result, meta)
    if order is not None:
        order.check()
    return result


def check_units(path: Path, columns: list[str], found: Scan, meta: dict) -> None:
    """A column whose mean in the new file is ``UNITS_STDS`` history standard deviations
    from the history's mean is in other units (degrees F for C, mg for µg...)."""
    mean, std = (np.asarray(meta["statistics"].get(k, []), float) for k in ("mean", "std"))
    if len(mean) != len(columns):
        return
    with np.errstate(all="ignore"):
        new = found.sums / found.counts
    far = np.abs(new - mean) > UNITS_STDS * np.where(std > 0, std, 1.0)
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise FashionlabError(
            f"{path}: column {columns[k]!r} looks like other units: its mean {new[k]:.4g} "
            f"is over {UNITS_STDS:g} history standard deviations from the history's "
            f"{mean[k]:.4g}; convert it to the history's units")


def finished(span: int | None, values: np.ndarray, at_end: bool,
             halo: int = 0) -> tuple[int, int]:
    """(how many leading rows of ``values`` have their final fill, the first row a later
    fill still needs) for a method whose fills look ``span`` rows around (see ``reach``),
    and ``halo`` rows beyond its windows (``context``). ``values`` starts at a window's
    first row; so does the row returned second."""
    n = len(values)
    if at_end or span == 0:
        return n, n
    if span is not None:
        done = max(0, n - halo) // span * span
        return done, max(0, done - -(-halo // span) * span)
    observed = ~np.isnan(values)
    if not observed.any(axis=0).all():
        return 0, 0
    last = n - 1 - np.argmax(observed[::-1], axis=0)  # each column's last observation
    done = int(last.min()) + 1  # every column is observed at or after each row before
    before = done - 1 - np.argmax(observed[:done][::-1], axis=0)  # last ones before done
    return done, int(before.min())


def fill_file(imputer: BaseImputer, meta: dict, path: Path, out: Path, flags: bool,
              size: int = CHUNK_ROWS, exclusive: bool = True) -> dict:
    """Check ``path`` (pass 1), then fill it chunk by chunk into ``out`` (pass 2)."""
    if size < 1 or isinstance(size, bool):
        raise FashionlabError(f"--chunk-rows must be a positive number of rows, got {size}")
    fmt = csv_format(path)
    found = scan(path, fmt, meta, size, meta["method"] in TIME_SERIES)
    header, chunks = read_chunks(path, fmt, size)
    flagged = [k for k in range(len(found.numeric)) if flags and found.gaps[k]]
    span, halo = reach(imputer), context(imputer)

    def table(rows: list[list[str]], values: np.ndarray) -> Table:
        return Table(header, rows, fmt.delimiter, found.numeric, values, found.decimals,
                     found.decimal_comma, fmt.quoting, fmt.newline, fmt.bom)

    cells = 0
    with atomic_writer(out, exclusive) as f:
        def write(lines: list[str]) -> None:
            if lines:
                text = fmt.newline.join(lines) + fmt.newline
                f.write(text.encode("utf-8"))

        if fmt.bom:
            f.write(b"\xef\xbb\xbf")
        write([header_line(table([], np.empty((0, len(found.numeric)))), flagged)])
        rows, values, written, read = [], np.empty((0, len(found.numeric))), 0, 0
        for chunk in itertools.chain(chunks, [None]):
            if chunk is not None:
                rows += chunk
                values = np.concatenate([values, _parse(path, header, chunk, found.numeric,
                                                        fmt, read + 1)[0]])
                read += len(chunk)
            done, keep = finished(span, values, chunk is None, halo)
            if done > written:
                filled = imputer.transform(values[: len(values) if span is None else done + halo])
                part = table(rows[written:done], values[written:done])
                write(row_lines(part, filled[written:done], flagged))
                cells += int(np.isnan(part.values).sum())
            rows, values, written = rows[keep:], values[keep:], done - keep
    return {"cells": cells, "rows": found.rows}

