"""Gap patterns: seeded masks of observed cells to hide, shaped like the gaps real data has.

``hide_completely_at_random`` (in :mod:`fashionlab.impute.masking`) hides single cells.
Real station records lose hours in runs, and often every variable of a station at once,
so a method scored only on single cells says little about them. Each pattern here hides
about ``fraction`` of the observed cells and never a cell that is already missing:

* ``random``: single cells, completely at random (today's ``--evaluate``);
* ``block``: runs of consecutive rows in one column, their lengths drawn from that
  column's own gap lengths (the pooled lengths of all columns where a column has none);
* ``outage``: every column of one group (a station) over a run of rows, the run lengths
  drawn from the data's gap lengths; groups come from the column names
  (``station_groups``) or are given, and fall back to one group of every column;
* ``subsequence``: runs of a fixed ``length`` rows in one column (PyPOTS's "subseq").

Masks are saved and loaded as files (``.npy`` or a CSV of 0/1) so that every method is
scored on the same cells; loading never unpickles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.masking import hide_completely_at_random

PATTERNS = ("random", "block", "outage", "subsequence")
SUBSEQUENCE_LENGTH = 24  # rows per hidden run of the ``subsequence`` pattern
MAX_DRAWS = 100_000  # runs drawn per column at most (a table almost all missing stops here)


def gap_lengths(column: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a 1-D boolean array (the gaps of one column)."""
    padded = np.concatenate([[False], np.asarray(column, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges[1::2] - edges[::2]


def run_lengths(missing: np.ndarray) -> np.ndarray:
    """Per cell of a 2-D boolean array, the length of the run of True (down its column) it
    lies in; 0 where False. The gap length of each missing cell, known at fill time."""
    missing = np.asarray(missing, bool)
    out = np.zeros(missing.shape, dtype=np.int64)
    for j in range(missing.shape[1]):
        padded = np.concatenate([[False], missing[:, j], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            out[start:stop, j] = stop - start
    return out


def station_groups(columns: Sequence[str], separator: str = "_") -> list[list[int]]:
    """Column indexes grouped by the name before the first ``separator`` (``Aotizhongxin_PM2.5``
    -> station ``Aotizhongxin``). A table whose names do not form at least two groups of two
    or more columns is one group of every column."""
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(columns):
        prefix, sep, _ = str(name).partition(separator)
        groups.setdefault(prefix if sep else str(name), []).append(j)
    found = [g for g in groups.values() if len(g) >= 2]
    if len(found) >= 2 and sum(map(len, found)) == len(columns):
        return found
    return [list(range(len(columns)))]


def named_groups(columns: Sequence[str], prefixes: Sequence[str]) -> list[list[int]]:
    """Column indexes of each prefix in ``prefixes`` (a column in none is in no group)."""
    groups = []
    for prefix in prefixes:
        group = [j for j, name in enumerate(columns) if str(name).startswith(prefix)]
        if not group:
            raise FashionlabError(f"group {prefix!r} names no column (no column name starts "
                                  "with it); give prefixes of the column names")
        groups.append(group)
    return groups


def _hide_runs(observed: np.ndarray, target: int, draw_length, rng) -> np.ndarray:
    """A mask of runs over the rows of ``observed`` (n_rows, n_cols of one group or column):
    runs of ``draw_length()`` rows at random starts, until ``target`` observed cells are
    hidden. A run spans the group's every column."""
    n_rows = observed.shape[0]
    hidden = np.zeros(observed.shape, dtype=bool)
    count = 0
    for _ in range(MAX_DRAWS):
        if count >= target:
            break
        length = int(min(draw_length(), n_rows))
        start = int(rng.integers(0, n_rows - length + 1))
        run = observed[start:start + length] & ~hidden[start:start + length]
        hidden[start:start + length] |= run
        count += int(run.sum())
    return hidden


def _lengths_by_column(X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    per_column = [gap_lengths(np.isnan(X[:, j])) for j in range(X.shape[1])]
    pooled = np.concatenate(per_column) if per_column else np.array([], int)
    return per_column, pooled if len(pooled) else np.array([1])


def pattern_mask(X: np.ndarray, pattern: str, fraction: float,
                 random_state: int | np.random.Generator | None = None, *,
                 columns: Sequence[str] | None = None,
                 groups: Sequence[Sequence[int]] | None = None,
                 length: int = SUBSEQUENCE_LENGTH) -> np.ndarray:
    """A boolean mask of about ``fraction`` of the observed cells of ``X`` (NaN = missing),
    shaped by ``pattern`` (one of ``PATTERNS``); see the module docstring.

    ``groups`` (lists of column indexes) are the stations of ``outage``; without them they
    come from ``columns`` (``station_groups``), else one group of every column.
    """
    if pattern not in PATTERNS:
        raise FashionlabError(f"unknown gap pattern {pattern!r}; choose one of: "
                              f"{', '.join(PATTERNS)}")
    if not 0 < fraction < 1:
        raise FashionlabError(f"the fraction to hide must be between 0 and 1, got {fraction}")
    X = np.asarray(X, dtype=float)
    rng = np.random.default_rng(random_state)
    observed = ~np.isnan(X)
    if pattern == "random":
        return hide_completely_at_random(X, fraction, rng)[1]
    per_column, pooled = _lengths_by_column(X)
    hidden = np.zeros(X.shape, dtype=bool)
    if pattern == "outage":
        if groups is None:
            groups = station_groups(columns) if columns is not None else [list(range(X.shape[1]))]
        for group in groups:
            group = list(group)
            block = observed[:, group]
            outages = gap_lengths(~block.any(axis=1))  # the group's own whole outages
            lengths = outages if len(outages) else pooled
            target = int(round(fraction * block.sum()))
            draw = lambda lengths=lengths: rng.choice(lengths)  # noqa: E731
            hidden[:, group] = _hide_runs(block, target, draw, rng)
        return hidden
    if length < 1:
        raise FashionlabError(f"the subsequence length must be a positive number of rows, "
                              f"got {length}")
    for j in range(X.shape[1]):
        lengths = per_column[j] if len(per_column[j]) else pooled
        draw = ((lambda: length) if pattern == "subsequence"
                else (lambda lengths=lengths: rng.choice(lengths)))
        target = int(round(fraction * observed[:, j].sum()))
        hidden[:, j] = _hide_runs(observed[:, j:j + 1], target, draw, rng)[:, 0]
    return hidden


def save_mask(path: str | Path, mask: np.ndarray) -> Path:
    """Write a boolean mask as ``.npy`` or as a CSV of 0/1 (one line per row, no header)."""
    path = Path(path)
    mask = np.asarray(mask, dtype=bool)
    if path.suffix.lower() == ".npy":
        np.save(path, mask, allow_pickle=False)
    else:
        np.savetxt(path, mask.astype(np.uint8), fmt="%d", delimiter=",")
    return path


def load_mask(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Read a mask written by ``save_mask`` (``.npy`` or CSV of 0/1) and check its shape;
    every problem is one ``FashionlabError``. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FashionlabError(f"mask file {path} does not exist")
    try:
        if path.suffix.lower() == ".npy":
            mask = np.load(path, allow_pickle=False)
        else:
            mask = np.loadtxt(path, delimiter=",", ndmin=2)
    except (ValueError, OSError) as exc:
        raise FashionlabError(f"mask file {path} is not a .npy array or a CSV of 0/1 "
                              f"({str(exc).splitlines()[0]})") from None
    if mask.shape != tuple(shape):
        raise FashionlabError(f"mask file {path} has shape {mask.shape} but the table's "
                              f"numeric cells are {tuple(shape)} (rows, columns)")
    if not np.isin(mask, (0, 1)).all():
        raise FashionlabError(f"mask file {path} holds values other than 0 and 1")
    return mask.astype(bool)


def apply_mask(X: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X with the masked observed cells set to NaN, the cells actually hidden)``: a mask
    cell over a cell already missing hides nothing and is not scored."""
    X = np.asarray(X, dtype=float)
    hidden = np.asarray(mask, bool) & ~np.isnan(X)
    out = X.copy()
    out[hidden] = np.nan
    return out, hidden
