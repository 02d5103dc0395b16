"""How sure a fill is: K draws from the window GAN, their median and a 90% interval
calibrated per gap length.

The window GAN's draws differ by dropout kept on (Monte Carlo dropout; its generator has
no noise input). Such draws alone are far too alike: their 5%-95% spread covers few
hidden cells (the samples collapse; ``raw_coverage`` reports it). The interval is
therefore calibrated split-conformally, and separately for each kind of gap, since a
cell in a one-hour hole and a cell in a three-day outage are not equally hard and the
kind is known when the cell is filled (:func:`gap_classes`): its gap's length bucket
(``BUCKETS``), or ``outage`` when every column of its station is missing in its row.

Calibration hides cells shaped like real gaps in data the model did not fill them from,
and for each class takes the score ``|truth - median| / (half spread + tau)`` (``tau``:
the class's median half spread, so that collapsed draws give a width of the class's own
size), and its split-conformal 90% quantile ``s``: the interval is ``median +- s (half
spread + tau)``. A class without calibration cells takes the quantile of all cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer, make_imputer
from fashionlab.impute.patterns import pattern_mask, run_lengths, station_groups

SAMPLED = ("window-gain",)  # methods that can draw fills
CALIBRATION = 0.1  # share of observed cells hidden to calibrate the interval
LEVEL = 0.9  # the interval's target coverage
FLOOR = 1e-6  # smallest half-width, in column standard deviations (identical draws)
BUCKETS = ((1, 1, "1 h"), (2, 6, "2-6 h"), (7, 24, "7-24 h"), (25, 72, "25-72 h"),
           (73, np.iinfo(np.int64).max, ">72 h"))  # gap lengths in rows (hours)
CLASSES = (*(name for _, _, name in BUCKETS), "outage")
OUTAGE = len(BUCKETS)  # the class of a cell whose station is wholly missing in its row


def gap_classes(missing: np.ndarray, groups: Sequence[Sequence[int]] | None = None
                ) -> np.ndarray:
    """Per cell of the boolean ``missing`` (rows in time order): the index in ``CLASSES``
    of its gap (length bucket, or ``OUTAGE`` where every column of its group is missing in
    its row; ``groups`` of one column or of every column make no outage), -1 if observed."""
    missing = np.asarray(missing, bool)
    lengths = run_lengths(missing)
    classes = np.full(missing.shape, -1, dtype=np.int64)
    for k, (low, high, _) in enumerate(BUCKETS):
        classes[(lengths >= low) & (lengths <= high)] = k
    for group in groups or ():
        group = list(group)
        if 2 <= len(group) < missing.shape[1]:
            down = missing[:, group].all(axis=1)
            classes[np.ix_(down, group)] = OUTAGE
    return classes


def by_variable(classes: np.ndarray, n_variables: int) -> np.ndarray:
    """``gap_classes`` split further by variable (column index modulo ``n_variables``, for
    station-major columns): class ``c`` of variable ``v`` becomes ``c * n_variables + v``;
    observed cells stay -1. Errors of one kind of gap differ between variables (rain and
    pressure are not equally hard), so each gets its own width."""
    variable = np.arange(classes.shape[1]) % n_variables
    return np.where(classes >= 0, classes * n_variables + variable, -1)


@dataclass
class GapCalibration:
    """Per class (of ``CLASSES``, or of ``by_variable``): the conformal quantile ``scale``,
    the spread floor ``tau`` and the number of calibration cells; ``raw_coverage``: the
    draws' own 5%-95%."""

    scale: np.ndarray
    tau: np.ndarray
    cells: np.ndarray
    raw_coverage: float


def _spread(draws: np.ndarray):
    median = np.median(draws, axis=0)
    q05, q95 = np.quantile(draws, [0.05, 0.95], axis=0)
    return median, q05, q95


def calibrate_by_gap(draws: np.ndarray, truth: np.ndarray, hidden: np.ndarray,
                     classes: np.ndarray, level: float = LEVEL,
                     n_classes: int = len(CLASSES)) -> GapCalibration:
    """The per-class split-conformal quantiles from ``draws`` (samples, rows, columns) of
    data whose ``hidden`` cells (true values in ``truth``) were hidden before filling;
    ``classes`` from ``gap_classes`` (or ``by_variable``, with its ``n_classes``)."""
    median, q05, q95 = _spread(draws)
    y, med, cls = truth[hidden], median[hidden], classes[hidden]
    half = (q95[hidden] - q05[hidden]) / 2
    raw = float(np.mean((q05[hidden] <= y) & (y <= q95[hidden]))) if len(y) else float("nan")
    scale, tau, cells = np.zeros(n_classes), np.zeros(n_classes), np.zeros(n_classes, int)

    def quantile(score):
        rank = min(len(score), int(np.ceil((len(score) + 1) * level)))  # finite-sample rank
        return float(np.sort(score)[rank - 1])

    pooled_tau = float(np.median(half)) if len(half) else 0.0
    pooled_tau = max(pooled_tau, float(np.median(np.abs(y - med))) * 1e-3, FLOOR)
    pooled = quantile(np.abs(y - med) / (half + pooled_tau)) if len(y) else 1.0
    for c in range(n_classes):
        sel = cls == c
        cells[c] = int(sel.sum())
        if not sel.any():
            scale[c], tau[c] = pooled, pooled_tau
            continue
        tau[c] = max(float(np.median(half[sel])), pooled_tau * 1e-3, FLOOR)
        scale[c] = quantile(np.abs(y[sel] - med[sel]) / (half[sel] + tau[c]))
    return GapCalibration(scale, tau, cells, raw)


def gap_interval(draws: np.ndarray, classes: np.ndarray, calibration: GapCalibration
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(median, low, high)`` of ``draws``: the calibrated interval of each cell's class
    (observed cells, class -1, get a zero-width interval at the median)."""
    median, q05, q95 = _spread(draws)
    cls = np.clip(classes, 0, None)
    half = calibration.scale[cls] * ((q95 - q05) / 2 + calibration.tau[cls])
    half = np.where(classes >= 0, half, 0.0)
    return median, median - half, median + half


def gaussian_crps(mean: np.ndarray, sigma: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of the normal N(mean, sigma^2) at each ``y`` (closed form, Gneiting et al. 2005)."""
    from scipy.stats import norm

    sigma = np.maximum(sigma, 1e-12)
    z = (y - mean) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


@dataclass
class Intervals:
    """Median fill, calibrated 5% and 95% bounds, and what calibration measured."""

    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    calibration: GapCalibration

    @property
    def raw_coverage(self) -> float:
        return self.calibration.raw_coverage

    @property
    def cells(self) -> int:
        return int(self.calibration.cells.sum())


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


def check_samples(samples: int, method: str) -> None:
    """A FashionlabError unless ``samples`` >= 1 draws of a method that draws."""
    if samples < 1 or isinstance(samples, bool):
        raise FashionlabError(f"--samples must be a positive number of draws, got {samples}")
    if method not in SAMPLED:
        raise FashionlabError(f"--samples needs a method that draws fills ({', '.join(SAMPLED)}"
                              f"), not {method}")


def sample_intervals(method: str, params: dict | None, X: np.ndarray, samples: int,
                     seed: int = 0, columns: Sequence[str] | None = None) -> Intervals:
    """Fit ``method`` on ``X`` less a calibration share of cells (runs shaped like the
    file's own gaps, and whole-station outages where ``columns`` name stations), calibrate
    the 90% interval per gap class on those cells, and return the median fill of ``X``
    with its calibrated bounds."""
    check_samples(samples, method)
    groups = station_groups(columns) if columns is not None else None
    hidden = pattern_mask(X, "block", CALIBRATION / 2, seed)
    if groups is not None and len(groups) > 1:
        hidden |= pattern_mask(X, "outage", CALIBRATION / 2, seed + 1, groups=groups)
    given = np.where(hidden, np.nan, X)
    imputer = make_imputer(method, params, seed).fit(given)
    draws = draw_fills(imputer, given, samples, seed)
    calibration = calibrate_by_gap(draws, X, hidden, gap_classes(np.isnan(given), groups))
    del draws
    median, low, high = gap_interval(draw_fills(imputer, X, samples, seed + 1),
                                     gap_classes(np.isnan(X), groups), calibration)
    floor = FLOOR * np.nanstd(X, axis=0)
    low, high = np.minimum(low, median - floor), np.maximum(high, median + floor)
    observed = ~np.isnan(X)
    for bound in (median, low, high):
        bound[observed] = X[observed]
    return Intervals(median, low, high, calibration)


def with_interval_columns(table, intervals: Intervals):
    """``table`` (a ``fashionlab.impute.table.Table``) with ``<col>_q05`` and ``<col>_q95``
    text columns for each column with gaps: the bounds in filled rows, empty elsewhere."""
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
