"""Time-series imputers with scikit-learn's imputer API.

Every imputer here takes a 2-D array whose rows are consecutive time steps (hours) and
whose columns are series (for the air-quality table: 12 stations x 11 variables,
station-major). ``fit`` learns from training rows, ``transform`` fills NaN and never
alters an observed value. With ``window=L`` the rows are cut into consecutive
non-overlapping windows of ``L`` rows and each window is imputed on its own, with no
look across its edges (the benchmark protocols impute 24-hour windows this way);
``window=None`` treats the whole array as one series.

A cell that a method cannot fill (say, a column with no observation in its window) gets
the column's mean over the observed training values. The imputers follow
``fashionlab.impute.base.BaseImputer``'s contract (validation, observed values copied
back, filled cells of whole-number columns rounded, a column with no observed training
value rejected) and are registered as ``locf``, ``interpolate`` and ``nearest-station``.

* ``LocfImputer``: last observation carried forward (leading gaps: next observation).
* ``LinearInterpolationImputer``: linear interpolation in time (edges held constant).
* ``NearestStationImputer``: a station's variable from the most correlated other
  station's same variable at the same hour, through a straight line fitted on training
  rows; what no donor covers falls back to interpolation in time.

:mod:`fashionlab.impute.window_gain` builds its GAN imputer (``window-gain``) on the classes
here; this module does not import it back.
"""

from __future__ import annotations

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import BaseImputer, register_imputer


# ---------------------------------------------------------------- window arithmetic
def _neighbours(X3: np.ndarray):
    """Previous/next observed index and value along axis 1 of ``(W, T, C)`` (NaN = missing)."""
    observed = ~np.isnan(X3)
    n_steps = X3.shape[1]
    t = np.arange(n_steps)[None, :, None]
    prev_idx = np.maximum.accumulate(np.where(observed, t, -1), axis=1)
    next_idx = np.where(observed, t, n_steps)[:, ::-1]
    next_idx = np.minimum.accumulate(next_idx, axis=1)[:, ::-1]
    values = np.nan_to_num(X3)
    prev_val = np.take_along_axis(values, np.clip(prev_idx, 0, n_steps - 1), axis=1)
    next_val = np.take_along_axis(values, np.clip(next_idx, 0, n_steps - 1), axis=1)
    return t, prev_idx, next_idx, prev_val, next_val


def interpolate3(X3: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 1 of ``(W, T, C)``; edges held; NaN where none seen."""
    t, prev_idx, next_idx, prev_val, next_val = _neighbours(X3)
    has_prev, has_next = prev_idx >= 0, next_idx < X3.shape[1]
    weight = (t - prev_idx) / np.maximum(next_idx - prev_idx, 1)
    inside = prev_val + weight * (next_val - prev_val)
    edge = np.where(has_prev, prev_val, np.where(has_next, next_val, np.nan))
    return np.where(has_prev & has_next, inside, edge)


def locf3(X3: np.ndarray) -> np.ndarray:
    """Last observation carried forward along axis 1 of ``(W, T, C)``; leading gaps take the
    next observation; NaN where the window has none."""
    _, prev_idx, next_idx, prev_val, next_val = _neighbours(X3)
    has_prev, has_next = prev_idx >= 0, next_idx < X3.shape[1]
    return np.where(has_prev, prev_val, np.where(has_next, next_val, np.nan))


def by_windows(X: np.ndarray, window: int | None, fill3) -> np.ndarray:
    """Apply ``fill3`` (on ``(W, T, C)``) to consecutive windows of ``window`` rows of ``X``."""
    n_rows = X.shape[0]
    length = n_rows if window is None else window
    n_full = n_rows // length
    out = np.empty_like(X)
    head = n_full * length
    if n_full:
        out[:head] = fill3(X[:head].reshape(n_full, length, -1)).reshape(head, -1)
    if head < n_rows:  # a shorter last window, on its own
        out[head:] = fill3(X[None, head:])[0]
    return out


# ---------------------------------------------------------------- shared contract
class _TimeSeriesImputer(BaseImputer):
    """``BaseImputer``'s contract plus the window check and the training-mean fallback."""

    def _check_window(self) -> None:
        window = self.window
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1
        ):
            raise FashionlabError(f"window must be a positive number of rows, got {window!r}")

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self._check_window()
        self.statistics_ = np.nanmean(X, axis=0)  # BaseImputer.fit rejects empty columns
        self._fit_series(X, rng)

    def _impute(self, X: np.ndarray) -> np.ndarray:
        self._check_window()
        filled = self._fill(X)
        still = np.isnan(filled)
        filled[still] = np.broadcast_to(self.statistics_, filled.shape)[still]
        return filled

    def _fit_series(self, X: np.ndarray, rng: np.random.Generator) -> None:
        pass

    def context_rows(self) -> int:
        """Rows before and after each window whose values its fills also read (0: a
        window's fills read that window alone)."""
        return 0

    def _fill(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _WindowedImputer(_TimeSeriesImputer):
    """Fills each column of each window with ``_fill_window`` (a function of one window)."""

    _fill_window: staticmethod

    def __init__(
        self,
        *,
        window: int | None = None,
        missing_values: float = np.nan,
        round_integers: bool = True,
    ) -> None:
        self.window = window
        self.missing_values = missing_values
        self.round_integers = round_integers

    def _fill(self, X):
        return by_windows(X, self.window, self._fill_window)


@register_imputer("locf")
class LocfImputer(_WindowedImputer):
    """Last observation carried forward in time, inside each window.

    Parameters
    ----------
    window : int or None, default=None
        Impute consecutive windows of this many rows on their own; None = one series.
    missing_values : float, default=np.nan
        The placeholder for missing cells.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are all whole numbers.
    """

    _fill_window = staticmethod(locf3)


@register_imputer("interpolate")
class LinearInterpolationImputer(_WindowedImputer):
    """Linear interpolation in time between the neighbouring observations, inside each window.

    Gaps at a window's edges take the nearest observation. Parameters as ``LocfImputer``.
    """

    _fill_window = staticmethod(interpolate3)


@register_imputer("nearest-station")
class NearestStationImputer(_TimeSeriesImputer):
    """Fill a station's variable from the most correlated other station's same variable.

    Columns are station-major blocks of ``n_variables`` (station 0's variables, then
    station 1's...). For every column, ``fit`` ranks the same variable at the other
    stations by their correlation on training rows where both are observed, and fits a
    straight line ``target = a + b * donor``. ``transform`` uses, hour by hour, the best
    ranked donor that is observed at that hour; cells no donor covers fall back to linear
    interpolation in time inside their window.

    Parameters
    ----------
    n_variables : int, default=11
        Variables per station (the column block size).
    n_donors : int, default=3
        How many of the best-correlated stations to try, best first.
    window : int or None, default=None
        Window of the fallback interpolation.
    min_overlap : int, default=24
        Fewest common observed training rows for a station to serve as a donor.
    missing_values : float, default=np.nan
    round_integers : bool, default=True
    """

    def __init__(
        self,
        *,
        n_variables: int = 11,
        n_donors: int = 3,
        window: int | None = None,
        min_overlap: int = 24,
        missing_values: float = np.nan,
        round_integers: bool = True,
    ) -> None:
        self.n_variables = n_variables
        self.n_donors = n_donors
        self.window = window
        self.min_overlap = min_overlap
        self.missing_values = missing_values
        self.round_integers = round_integers

    def _fit_series(self, X, rng):
        self.donors_ = rank_donors(X, self.n_variables, self.n_donors, self.min_overlap)

    def _fill(self, X):
        out = donor_fill(X, *donor_arrays(self.donors_, self.n_donors))
        fallback = by_windows(X, self.window, interpolate3)
        still = np.isnan(out)
        out[still] = fallback[still]
        return out


# ---------------------------------------------------------------- station donors
def rank_donors(X: np.ndarray, n_variables: int, n_donors: int,
                min_overlap: int) -> list[list[tuple[int, float, float]]]:
    """Per column of ``X`` (station-major blocks of ``n_variables``), up to ``n_donors``
    ``(donor column, intercept, slope)``: the same variable at the other stations, best
    correlated first over the rows where both are observed, with the straight line
    ``column = intercept + slope * donor`` fitted on those rows."""
    n_columns = X.shape[1]
    if n_variables < 1 or n_columns % n_variables:
        raise FashionlabError(
            f"{n_columns} columns do not split into stations of n_variables="
            f"{n_variables}: pass the number of variables per station "
            "(`fashionlab impute`: --param n_variables=N)"
        )
    n_stations = n_columns // n_variables
    observed = ~np.isnan(X)
    donors = []
    for col in range(n_columns):
        variable = col % n_variables
        ranked = []
        for station in range(n_stations):
            donor = station * n_variables + variable
            if donor == col:
                continue
            both = observed[:, col] & observed[:, donor]
            if both.sum() < min_overlap:
                continue
            y, x = X[both, col], X[both, donor]
            if x.std() == 0 or y.std() == 0:
                continue
            corr = float(np.corrcoef(x, y)[0, 1])
            slope = corr * y.std() / x.std()
            ranked.append((corr, donor, float(y.mean() - slope * x.mean()), slope))
        ranked.sort(key=lambda r: -r[0])
        donors.append([(d, a, b) for _, d, a, b in ranked[:n_donors]])
    return donors


def donor_arrays(donors: list, n_donors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rank_donors``' lists as padded ``(columns, n_donors)`` arrays: donor column (-1:
    none), intercept, slope."""
    index = np.full((len(donors), max(n_donors, 1)), -1, dtype=np.int64)
    intercept = np.zeros(index.shape)
    slope = np.zeros(index.shape)
    for col, ranked in enumerate(donors):
        for k, (donor, a, b) in enumerate(ranked[: index.shape[1]]):
            index[col, k], intercept[col, k], slope[col, k] = donor, a, b
    return index, intercept, slope


def donor_fill(X: np.ndarray, index: np.ndarray, intercept: np.ndarray,
               slope: np.ndarray) -> np.ndarray:
    """``X`` (..., columns; NaN = missing) with each gap taken from its best donor observed
    in the same row (``donor_arrays``' layout); NaN where no donor is observed."""
    out = np.array(X, dtype=float, copy=True)
    for k in range(index.shape[1]):
        has = index[:, k] >= 0
        donor = X[..., np.where(has, index[:, k], 0)]
        candidate = np.where(has, intercept[:, k] + slope[:, k] * donor, np.nan)
        out = np.where(np.isnan(out), candidate, out)
    return out


__all__ = [
    "LinearInterpolationImputer",
    "LocfImputer",
    "NearestStationImputer",
    "by_windows",
    "donor_arrays",
    "donor_fill",
    "interpolate3",
    "locf3",
    "rank_donors",
]
