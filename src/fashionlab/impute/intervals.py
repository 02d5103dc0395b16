"""How sure a fill is: K draws from the window GAN, their median and a calibrated 90% interval.

The window GAN's generator has no noise input; its draws differ by dropout kept on (a
different dropout mask per draw, Monte Carlo dropout). Such draws alone are far too
alike (their 5%-95% spread covers few hidden cells: the samples collapse), so the
interval is calibrated split-conformally, a standard and honest fix: before the real
fill, ``CALIBRATION`` of the observed cells are hidden, the model is fitted on the rest,
and the factor ``s`` that makes the stretched interval ``median - s (median - q05),
median + s (q95 - median)`` cover 90% of those hidden cells is applied to every interval.
The fill itself (the median) comes from that same fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer, make_imputer
from fashionlab.impute.patterns import pattern_mask

SAMPLED = ("window-gain",)  # methods that can draw fills
CALIBRATION = 0.1  # share of observed cells hidden to calibrate the interval
LEVEL = 0.9  # the interval's target coverage
FLOOR = 1e-6  # smallest half-width, in column standard deviations (identical draws)


@dataclass
class Intervals:
    """Median fill, calibrated 5% and 95% bounds, and what calibration measured."""

    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    scale: float  # the conformal stretch of the draws' spread
    raw_coverage: float  # coverage of the draws' own 5%-95% on the calibration cells
    cells: int  # calibration cells


def draw_fills(imputer: BaseImputer, X: np.ndarray, samples: int,
               seed: int = 0) -> np.ndarray:
    """``samples`` fills of ``X`` (samples, rows, columns), dropout on in each draw."""
    generator = imputer.generator_
    torch.manual_seed(seed)
    generator.train()
    try:
        return np.stack([imputer.transform(X) for _ in range(samples)])
    finally:
        generator.eval()


def _bounds(draws: np.ndarray, scale: float, floor: np.ndarray):
    median = np.median(draws, axis=0)
    q05, q95 = np.quantile(draws, [0.05, 0.95], axis=0)
    low = median - scale * np.maximum(median - q05, floor)
    high = median + scale * np.maximum(q95 - median, floor)
    return median, low, high


def check_samples(samples: int, method: str) -> None:
    """A FashionlabError unless ``samples`` >= 1 draws of a method that draws."""
    if samples < 1 or isinstance(samples, bool):
        raise FashionlabError(f"--samples must be a positive number of draws, got {samples}")
    if method not in SAMPLED:
        raise FashionlabError(f"--samples needs a method that draws fills ({', '.join(SAMPLED)}"
                              f"), not {method}")


def sample_intervals(method: str, params: dict | None, X: np.ndarray, samples: int,
                     seed: int = 0) -> Intervals:
    """Fit ``method`` on ``X`` less a calibration share of cells, calibrate the 90% interval
    on those cells, and return the median fill of ``X`` with its calibrated bounds."""
    check_samples(samples, method)
    hidden = pattern_mask(X, "random", CALIBRATION, seed)
    given = np.where(hidden, np.nan, X)
    imputer = make_imputer(method, params, seed).fit(given)
    floor = FLOOR * np.nanstd(X, axis=0)
    median, low, high = _bounds(draws := draw_fills(imputer, given, samples, seed), 1.0, floor)
    truth = X[hidden]
    raw = float(np.mean((low[hidden] <= truth) & (truth <= high[hidden])))
    # the stretch each calibration cell needs, on its side of the median
    side = np.where(truth >= median[hidden], high[hidden] - median[hidden],
                    median[hidden] - low[hidden])
    need = np.abs(truth - median[hidden]) / side
    n = len(need)
    rank = min(n, int(np.ceil((n + 1) * LEVEL)))  # split-conformal's finite-sample quantile
    scale = float(np.sort(need)[rank - 1])
    del draws
    median, low, high = _bounds(draw_fills(imputer, X, samples, seed + 1), scale, floor)
    observed = ~np.isnan(X)
    for bound in (median, low, high):
        bound[observed] = X[observed]
    return Intervals(median, low, high, scale, raw, n)


def with_interval_columns(table, intervals: Intervals):
    """``table`` (a ``fashionlab.impute.table.Table``) with ``<col>_q05`` and ``<col>_q95``
    text columns for each column with gaps: the bounds in filled rows, empty elsewhere."""
    from dataclasses import replace

    from fashionlab.impute.csv_io import format_value

    missing = np.isnan(table.values)
    header, rows = list(table.header), [list(row) for row in table.rows]
    for k, j in enumerate(table.numeric):
        if not missing[:, k].any():
            continue
        for suffix, bound in (("_q05", intervals.low), ("_q95", intervals.high)):
            header.append(table.header[j] + suffix)
            for i, row in enumerate(rows):
                row.append(format_value(bound[i, k], table.decimals[k], table.decimal_comma[k])
                           if missing[i, k] else "")
    return replace(table, header=header, rows=rows)
