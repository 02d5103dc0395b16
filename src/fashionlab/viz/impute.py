"""Figures for imputation: one station's series, observed values and filled gaps in two colours."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fashionlab.errors import FashionlabError
from fashionlab.viz.common import save_figure

OBSERVED_COLOUR = "#1f77b4"  # blue
FILLED_COLOUR = "#d62728"  # red
TRUTH_COLOUR = "#2ca02c"  # green


def plot_filled_series(
    given: pd.DataFrame,
    imputed: pd.DataFrame,
    station: str,
    variables: Sequence[str] | None = None,
    truth: pd.DataFrame | None = None,
    start: str | pd.Timestamp | None = None,
    hours: int = 24 * 7,
    title: str | None = None,
) -> plt.Figure:
    """One panel per variable of ``station``: observed values in blue, filled cells in red.

    Parameters
    ----------
    given : DataFrame
        The table given to the imputer (NaN = missing), columns ``<Station>_<variable>``.
    imputed : DataFrame
        The imputer's output, same index and columns.
    station : str
        Which station to draw.
    variables : sequence of str, optional
        Which of its variables (default: every column of the station).
    truth : DataFrame, optional
        Known values of cells hidden on purpose, drawn as green rings to judge the fill.
    start, hours : the time span to draw (default: the first ``hours`` rows).
    """
    if given.shape != imputed.shape or not given.index.equals(imputed.index):
        raise FashionlabError("the given and imputed tables differ in shape or index: pass both")
    prefix = f"{station}_"
    columns = [c for c in given.columns if str(c).startswith(prefix)]
    if variables is not None:
        columns = [prefix + v for v in variables]
    missing = [c for c in columns if c not in given.columns]
    if not columns or missing:
        stations = sorted({str(c).split("_")[0] for c in given.columns})
        raise FashionlabError(
            f"no column {missing[0] if missing else prefix + '*'} in the table: "
            f"stations are {', '.join(stations)}"
        )
    begin = 0 if start is None else int(given.index.searchsorted(pd.Timestamp(start)))
    span = slice(begin, begin + hours)
    fig, axes = plt.subplots(len(columns), 1, figsize=(10, 1.8 * len(columns) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, column in zip(axes, columns, strict=True):
        times = given.index[span]
        observed = given[column].to_numpy()[span]
        filled = imputed[column].to_numpy()[span]
        gap = np.isnan(observed)
        # the whole imputed line thin in red, the observed values over it in blue: every
        # segment that touches a filled cell stays red
        ax.plot(times, filled, color=FILLED_COLOUR, lw=1.0, label="filled")
        ax.plot(times, observed, color=OBSERVED_COLOUR, lw=1.2, label="observed")
        ax.scatter(times[gap], filled[gap], color=FILLED_COLOUR, s=10, zorder=3)
        if truth is not None:
            known = truth[column].to_numpy()[span]
            shown = gap & ~np.isnan(known)
            ax.scatter(times[shown], known[shown], facecolors="none", edgecolors=TRUTH_COLOUR,
                       s=22, zorder=4, label="hidden truth")  # fmt: skip
        ax.set_ylabel(column[len(prefix) :], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=7, ncols=3)
    fig.suptitle(title or f"{station}: observed (blue) and filled (red)", fontsize=10)
    fig.autofmt_xdate()
    return fig


def save_filled_series(path: str | Path, *args, **kwargs) -> Path:
    """``plot_filled_series(*args, **kwargs)`` saved as a PNG at ``path``."""
    return save_figure(plot_filled_series(*args, **kwargs), path)
