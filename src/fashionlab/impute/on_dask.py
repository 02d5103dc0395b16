"""Fill a Dask DataFrame with a fitted imputer, partition by partition, in parallel.

For data beyond one machine: each partition is filled where it lies, with the model
fitted once (``fashionlab impute fit``; load it with
:func:`fashionlab.impute.persist.load_imputer`). A row-wise method fills each partition
on its own (``dask.dataframe.map_partitions``). A method with a ``window`` of L rows needs
the rows of the windows that cross a partition's edges: ``map_overlap`` lends each
partition the L - 1 rows before and after it (and, for a method whose fills read H rows
beyond a window, ``context_rows``, H more before), and the partition's rows are filled
within the windows of the whole frame (the same windows as filling it at once, counted
from its first row). A method whose window is the whole series (``window=None``) cannot be split:
fit it with a window for Dask.

Dask is an optional extra: ``pip install -e ".[dask]"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer
from fashionlab.impute.chunked import context, reach


def fill_dask(frame, imputer: BaseImputer, columns: list[str]):
    """``frame`` (a ``dask.dataframe.DataFrame``) with the missing cells of ``columns`` (the
    columns ``imputer`` was fitted on, in its order) filled; a lazy frame, as Dask's are.

    Rows must be in time order for a time-series method; its windows are counted from the
    frame's first row, so every partition but the last must hold at least the rows lent
    before each partition, ``window - 1`` (plus ``context_rows``; ``frame.repartition`` if
    not).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FashionlabError(f"the frame lacks the model's column(s) "
                              f"{', '.join(map(repr, missing[:3]))}")
    span = reach(imputer)
    if span is None:
        raise FashionlabError("this model fills from the whole series (window=None), which "
                              "partitions cannot split; fit it with --param window=ROWS")
    meta = frame._meta.astype({c: float for c in columns})
    if span == 0:
        return frame.map_partitions(_fill_rows, imputer, columns, meta=meta)
    lengths = np.asarray(frame.map_partitions(len).compute(), dtype=int)
    before = span - 1 + context(imputer)
    short = np.flatnonzero(lengths[:-1] < before)
    if len(short):
        raise FashionlabError(f"partition {int(short[0])} holds {int(lengths[short[0]])} rows, "
                              f"fewer than the {before} rows lent before each partition "
                              "(the window's less one, plus its context); repartition the frame")
    position = frame.map_partitions(_ones, meta=(ROW, int)).cumsum() - 1  # rows from 0
    return frame.assign(**{ROW: position}).map_overlap(
        _fill_windows, before, span - 1, imputer, columns, span, meta=meta)


ROW = "__fashionlab_row__"  # each row's position in the frame, while filling


def _ones(part: pd.DataFrame) -> pd.Series:
    return pd.Series(1, index=part.index, name=ROW)


def _fill_rows(part: pd.DataFrame, imputer: BaseImputer, columns: list[str]) -> pd.DataFrame:
    out = part.astype({c: float for c in columns})
    if len(part):
        out[columns] = imputer.transform(out[columns].to_numpy())
    return out


def _fill_windows(part: pd.DataFrame, imputer: BaseImputer, columns: list[str],
                  span: int) -> pd.DataFrame:
    """``part``: a partition with the rows of its neighbours that ``map_overlap`` lends (and
    trims off afterwards). Fills every window of the frame that starts in it: the windows
    of the partition's own rows, and the context they read, are whole there."""
    out = part.drop(columns=ROW).astype({c: float for c in columns})
    if not len(part):
        return out
    first = int(part[ROW].iloc[0])
    skip = -first % span  # lent rows before the first window that starts here
    values = out[columns].to_numpy()
    if skip < len(values):
        values[skip:] = imputer.transform(values[skip:])
    out[columns] = values
    return out
