"""``MixtureForestImputer``: a mixture of normals' fill blended with extra-trees forests'.

This is the starting fill that :class:`~fashionlab.impute.gain.GainImputer`'s generators
correct, and an imputer of its own (``fashionlab impute --method mixture-forest``). On
small tables it does most of GAIN's work (``benchmarks/impute_tables_notes.md``). Four
parts, each there for a reason:

* a mixture of multivariate normals fitted by EM to the table with its gaps
  (:mod:`fashionlab.impute.gaussian`) fills each gap with its conditional mean given the
  row's other cells, exact for any pattern of gaps; one normal gives a linear fill, a few
  follow clusters that one normal averages away; ``n_components="auto"`` chooses 1, 2 or
  3 on held-out cells;
* ``power_transform="yeo-johnson"``: the mixture is fitted to each column's standardised
  Yeo-Johnson transform, where skewed columns (pollutants, rain, wind) are nearer normal,
  and a gap gets the mean of its conditional law mapped back (RMSE rewards the mean; the
  mapped-back conditional mean is median-like);
* ``forest_weight``: each column's extra-trees forest predicts it from the other cells of
  the mixture's fill (MissForest's learner, in one pass on a good fill instead of rounds
  from column means); the mixture (smooth) and the forests (piecewise constant) err in
  partly independent ways, and a gap gets the weighted blend of the two;
* ``n_folds``: the mixtures and forests are cross-fitted: each row's fill comes from a
  mixture (and forests) fitted without that row's fold. A model fitted on every row fills
  the cells it has seen far better than real gaps, so a learner trained on such fills
  (GAIN's generator) would learn to correct fills better than the ones it meets when
  filling; filling averages the folds' fills.

Everything works on each column min-max scaled to [0, 1] by its observed range; filled
values are clipped to that range.
"""

from __future__ import annotations

import numpy as np
import torch

from fashionlab.impute.base import (
    NONZERO_INTEGER,
    MinMaxImputer,
    Rule,
    draw_seed,
    either,
    is_integer,
    number_in,
    one_of,
    optional,
    register_imputer,
    whole,
)
from fashionlab.impute.forests import blend_forest_fill, fit_column_forests
from fashionlab.impute.gaussian import (
    choose_components,
    fit_mixture,
    fit_yeo_johnson,
    mixture_expected_fill,
    mixture_fill,
    yeo_johnson,
    yeo_johnson_inverse,
)
from fashionlab.runtime.device import torch_threads

FOREST_ROWS = 2_000  # rows each fold's forests fit on at least (all, in a shorter fold)
FOREST_CELLS = 250_000  # ... and more rows up to this many cells (see forest_rows)

FOLDS = Rule("0 or an integer >= 2", lambda v: is_integer(v) and v >= 0 and v != 1)
POWER_TRANSFORMS = one_of(None, "yeo-johnson")
COMPONENTS = either(one_of("auto"), whole(1))


def forest_rows(columns: int) -> int:
    """Most rows (a seeded sample of a longer fold) each fold's forests fit on: enough for
    ``FOREST_CELLS`` cells of ``columns`` columns, at least ``FOREST_ROWS``.

    A forest on more rows predicts better (MissForest fits on every row), and tables of a
    few thousand rows of 16-57 columns fit whole; but a forest per column, each split
    drawing from half the other columns, costs about rows x columns^2, so the rows allowed
    shrink as the table widens (16 columns: 15,625 rows; 57: 4,385; 125 or more: 2,000).
    The five folds' forests then cost about two rounds of MissForest-like's (every row,
    every column at each split), which runs up to ten.
    """
    return max(FOREST_ROWS, FOREST_CELLS // max(columns, 1))


@register_imputer("mixture-forest")
class MixtureForestImputer(MinMaxImputer):
    """Fill each gap from a mixture of normals and per-column extra-trees forests.

    GainImputer's starting fill, usable alone (see the module docstring for why each part
    is there). ``transform`` fills each row on its own and is deterministic.

    Parameters
    ----------
    power_transform : {"yeo-johnson"} or None, default="yeo-johnson"
        Fit the mixture to each column's standardised Yeo-Johnson transform (exponents by
        maximum likelihood on the observed cells) and fill each gap with the mean of its
        conditional law mapped back; None fits it to the min-max scaled values.
    n_components : int or "auto", default="auto"
        Normals in the mixture; "auto" picks 1, 2 or 3 by the error of their fills on
        three folds of 10% held-out observed cells (on at most 2,000 rows).
    n_folds : int, default=5
        With k >= 2, the rows are split into k folds and each row's fill during ``fit``
        (``cross_fitted_fill``) comes from a mixture and forests fitted without its fold;
        ``transform`` averages the k folds' fills. 0: one mixture (and one set of forests)
        fitted on every row.
    forest_weight : float, default=0.5
        Weight, in [0, 1], of the forests' prediction in each gap's fill (the mixture's
        fill has the rest); 0: the mixture alone, no forest is fitted.
    forest_trees : int, default=100
        Trees in each column's forest.
    forest_max_columns : int or None, default=None
        Most other columns each split of a forest draws from: half of them, at most this
        many (None: half of them). A speed option for wide tables.
    n_jobs : int or None, default=None
        Parallel jobs of each forest (scikit-learn's meaning: None is one, -1 every core);
        the fill does not depend on it.
    n_threads : int or None, default=1
        PyTorch CPU threads while fitting and filling (None = PyTorch's setting).
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the choice of normals, the folds and the forests.

    Attributes
    ----------
    n_components_ : int
        Normals in the fitted mixture.
    component_scores_ : list of float or None
        With ``n_components="auto"``: the held-out error of 1, 2 and 3 normals.
    weights_, means_, covariances_ : Tensor
        The mixture fitted on every row, on the scaled values (their Yeo-Johnson
        transforms with ``power_transform``), float64, of shapes (K,), (K, n_features) and
        (K, n_features, n_features).
    lambdas_, transform_mean_, transform_std_ : Tensor or None
        With ``power_transform="yeo-johnson"``: each column's exponent (on the scaled
        values) and the mean and standard deviation that standardise the transformed
        values (None otherwise).
    row_folds_ : Tensor or None
        With ``n_folds``: each row's fold.
    fold_mixtures_ : list of (weights, means, covariances) or None
        With ``n_folds``: the mixture fitted without each fold.
    fold_forests_ : list of list of ExtraTreesRegressor or None
        With ``forest_weight``: for each fold (one entry without folds), each column's
        forest (None for a column the fold's other rows never observe); None without
        ``forest_weight`` or with one column.
    low_, span_ : ndarray of shape (n_features,)
        Observed minimum and range of each column (range 1 where a column is constant).
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    """

    _parameter_rules = {
        "forest_trees": whole(1),
        "forest_max_columns": optional(whole(1)),
        "n_threads": optional(whole(1)),
        "forest_weight": number_in(0, 1),
        "n_folds": FOLDS,
        "power_transform": POWER_TRANSFORMS,
        "n_jobs": optional(NONZERO_INTEGER),
        "n_components": COMPONENTS,
    }

    def __init__(
        self, *, power_transform: str | None = "yeo-johnson", n_components: int | str = "auto",
        n_folds: int = 5, forest_weight: float = 0.5, forest_trees: int = 100,
        forest_max_columns: int | None = None, n_jobs: int | None = None,
        n_threads: int | None = 1, missing_values: float = np.nan, round_integers: bool = True,
        random_state=None,
    ):
        self.power_transform = power_transform
        self.n_components = n_components
        self.n_folds = n_folds
        self.forest_weight = forest_weight
        self.forest_trees = forest_trees
        self.forest_max_columns = forest_max_columns
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self._fit_scaling(X)
        x, observed = self._scaled(X)
        x64, observed64 = x.double(), observed.double()
        self.lambdas_ = self.transform_mean_ = self.transform_std_ = None
        self.component_scores_ = self.row_folds_ = None
        self.fold_mixtures_ = self.fold_forests_ = None
        if self.power_transform == "yeo-johnson":
            self.lambdas_, self.transform_mean_, self.transform_std_ = fit_yeo_johnson(
                x64, observed64)
            x64 = self._forward(x64) * observed64
        self._fit_mixture(x64, observed64, rng)
        self._fit_fold_mixtures(x64, observed64, rng)
        self._fit_forests(x, observed, rng)

    def _fit_mixture(self, x: torch.Tensor, observed: torch.Tensor,
                     rng: np.random.Generator) -> None:
        """The mixture fitted on every row; the number of normals chosen on held-out cells."""
        k = self.n_components
        # one normal needs no seed: the draws after it then match a fit without mixtures
        seed = 0 if k == 1 else draw_seed(rng)
        with torch_threads(self.n_threads):
            if k == "auto":
                k, self.component_scores_ = choose_components(x, observed, seed=seed)
            self.n_components_ = int(k)
            self.weights_, self.means_, self.covariances_ = fit_mixture(x, observed, k, seed=seed)

    def _fit_fold_mixtures(self, x: torch.Tensor, observed: torch.Tensor,
                           rng: np.random.Generator) -> None:
        """With ``n_folds``: the rows' folds and one mixture fitted without each fold."""
        folds = min(self.n_folds, len(x))  # a table of one row: nothing to fold
        if folds < 2:
            return
        self.row_folds_ = torch.from_numpy(rng.permutation(len(x)) % folds)
        seed = draw_seed(rng)
        with torch_threads(self.n_threads):
            self.fold_mixtures_ = []
            for f in range(folds):
                rows = self.row_folds_ != f  # a tiny table: no more normals than rows
                k = min(self.n_components_, int(rows.sum()))
                self.fold_mixtures_.append(fit_mixture(x[rows], observed[rows], k, seed=seed))

    def _fit_forests(self, x: torch.Tensor, observed: torch.Tensor,
                     rng: np.random.Generator) -> None:
        """With ``forest_weight``: for each fold (or once, on every row, without folds), one
        extra-trees forest per column, predicting it from the other columns of the rows'
        mixture fill (the fold mixture's), fitted on the rows outside the fold."""
        if self.forest_weight == 0 or x.shape[1] < 2:
            return
        seed = draw_seed(rng)
        folds = self.fold_mixtures_ or [None]
        given = observed.numpy().astype(bool)
        self.fold_forests_ = []
        with torch_threads(self.n_threads):
            for f in range(len(folds)):
                rows = np.flatnonzero(self.row_folds_ != f) if self.row_folds_ is not None \
                    else np.arange(len(x))
                most = forest_rows(x.shape[1])
                if len(rows) > most:  # a long table: a sample, the forests' cost is bounded
                    rows = np.sort(np.random.default_rng([seed, f]).choice(
                        rows, most, replace=False))
                fill = self.mixture_fill(x[rows], observed[rows], folds[f]).double().numpy()
                # a column seen only in fold f gets no forest (None)
                self.fold_forests_.append(
                    fit_column_forests(fill, given[rows], self.forest_trees, seed,
                                       self.forest_max_columns, self.n_jobs))

    # ------------------------------------------------------------------ fills (scaled values)

    def scaled_fill(self, x: torch.Tensor, given: torch.Tensor, fold: int | None = None
                    ) -> torch.Tensor:
        """The fill of scaled values ``x`` (``given``: 1.0 where a value is kept): the mixture's
        (``fold``: the one fitted without that fold; None: the one fitted on every row)
        blended with the forests' (those of ``fold``; without folds, the ones fitted on every
        row)."""
        mixture = None if fold is None else self.fold_mixtures_[fold]
        out = self.mixture_fill(x, given, mixture)
        forests = self.fold_forests_
        if forests is None or (fold is None and self.fold_mixtures_ is not None):
            return out  # no forests, or none fitted on every row
        blended = blend_forest_fill(out.double().numpy(), ~given.numpy().astype(bool),
                                    forests[fold or 0], self.forest_weight)
        return torch.from_numpy(blended).to(out.dtype)

    def cross_fitted_fill(self, x: torch.Tensor, given: torch.Tensor,
                          rows: torch.Tensor) -> torch.Tensor:
        """The fill of training rows ``rows`` (``x`` and ``given`` are those rows): with
        ``n_folds``, each row's from the mixture (and forests) fitted without its fold."""
        if self.fold_mixtures_ is None:
            return self.scaled_fill(x, given)
        out = torch.empty_like(x)
        fold = self.row_folds_[rows]
        for f in range(len(self.fold_mixtures_)):
            pick = fold == f
            if pick.any():
                out[pick] = self.scaled_fill(x[pick], given[pick], f)
        return out

    def fold_fills(self, x: torch.Tensor, given: torch.Tensor) -> list[torch.Tensor]:
        """The fills ``transform`` averages: each fold's (with ``n_folds``), else the one."""
        folds = self.fold_mixtures_
        return [self.scaled_fill(x, given, f) for f in range(len(folds))] if folds else [
            self.scaled_fill(x, given)]

    def mixture_fill(self, x: torch.Tensor, given: torch.Tensor, mixture=None) -> torch.Tensor:
        """The mixture's fill alone (``mixture``: (weights, means, covariances), default the
        one fitted on every row), in the dtype of ``x``."""
        mixture = mixture or (self.weights_, self.means_, self.covariances_)
        if self.lambdas_ is None:
            return mixture_fill(x, given, *mixture)
        z = self._forward(x) * given.double()
        expected = mixture_expected_fill(
            z, given, *mixture,
            lambda t: yeo_johnson_inverse(
                t, self.lambdas_, self.transform_mean_, self.transform_std_))
        return (given * x + (1 - given) * expected.to(x.dtype)).to(x.dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled values in the mixture's space (``power_transform``), float64."""
        return yeo_johnson(x, self.lambdas_, self.transform_mean_, self.transform_std_)

    def _impute(self, X: np.ndarray) -> np.ndarray:
        x, given = self._scaled(X)
        with torch.no_grad(), torch_threads(self.n_threads):
            fills = [fill.clamp(0, 1) for fill in self.fold_fills(x, given)]
        return self._unscaled(torch.stack(fills).mean(0))
