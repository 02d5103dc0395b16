"""Rows in time order: what a time-series method needs of a file, checked chunk by chunk.

Time-series methods (``TIME_SERIES``) take neighbouring rows for neighbouring times, so a
file whose rows are out of order, or hold one time twice, would be filled wrongly without
a word. A text column whose every cell is a date or time is such a file's clock: its times
must strictly increase, from one chunk of rows to the next too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlab.errors import FashionlabError

TIME_SERIES = ("locf", "interpolate", "nearest-station", "window-gain")


def _times(cells: list[str]) -> pd.Series:
    """The cells as times, NaT where a cell is not one (one format inferred for the column
    first, which is fast; each cell on its own when that fails)."""
    series = pd.Series(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": then the slow path
        times = pd.to_datetime(series, errors="coerce")
        if times.isna().any():
            times = pd.to_datetime(series, errors="coerce", format="mixed")
    return times


class TimeOrder:
    """Feed it the rows of a file chunk by chunk (``add``), then ``check``: the error for
    the first time column out of order, if any."""

    def __init__(self, path: Path, header: list[str], text_columns: list[int]):
        self.path, self.header = path, header
        self.candidates = list(text_columns)  # still a time column in every chunk so far
        self.last: dict[int, np.datetime64] = {}
        self.problems: dict[int, str] = {}
        self.rows = 0

    def add(self, rows: list[list[str]]) -> None:
        """Check one chunk of data rows (the ones after those already added)."""
        for j in list(self.candidates):
            cells = [row[j] for row in rows]
            times = _times(cells)
            if times.isna().any():
                self.candidates.remove(j)  # not a time column
                continue
            if j in self.problems:
                continue
            values = times.to_numpy()
            previous = [self.last[j]] if j in self.last else []
            steps = np.diff(np.concatenate([np.asarray(previous, values.dtype), values]))
            first = self.rows - len(previous)  # data row index of the first value compared
            self.last[j] = values[-1]
            bad = np.flatnonzero(steps <= np.timedelta64(0))
            if len(bad):
                i = int(bad[0])  # the value at i + 1 is not after the one at i
                row, cell = first + i + 1, cells[i + 1 - len(previous)]
                name = self.header[j]
                self.problems[j] = (
                    f"{self.path}: time {cell!r} in column {name!r} appears twice (data row "
                    f"{row + 1}); a time-series method needs one row per time"
                    if steps[i] == np.timedelta64(0) else
                    f"{self.path}: data row {row + 1} ({cell!r}) comes before the row above "
                    f"it in column {name!r}; sort the rows by time")
        self.rows += len(rows)

    def check(self) -> None:
        """Raise the first problem of a column that stayed a time column to the end."""
        for j in self.candidates:
            if j in self.problems:
                raise FashionlabError(self.problems[j])


def check_time_order(path: Path, header: list[str], rows: list[list[str]],
                     text_columns: list[int]) -> None:
    """A ``FashionlabError`` if a time column of these rows (the whole file) is out of order."""
    order = TimeOrder(path, header, text_columns)
    order.add(rows)
    order.check()
