"""GAIN: Generative Adversarial Imputation Nets (Yoon, Jordon & van der Schaar, ICML 2018).

A generator G sees a row with its gaps filled with small noise plus the mask of
given cells, and proposes a value for every cell. A discriminator D sees the
completed row and a *hint* (the mask, with each cell revealed with probability
``hint_rate`` and set to 0.5 otherwise) and guesses, for each unrevealed cell,
whether it was given or filled. G is trained to fool D on the filled cells and
to reproduce the given cells (weight ``alpha``).

Nine additions, each chosen on validation masks of small tables (see
``benchmarks/impute_tables.py``); the GAN itself (G, D, hint, losses) is GAIN's:

* ``start="gaussian"``: instead of noise, G receives in each gap the
  conditional mean of that cell given the row's other cells under a
  mixture of multivariate normals fitted to the table by EM (mask-aware, exact
  for any pattern of gaps; one normal gives a linear fill), and G's output is a
  *correction* of that fill (residual generator), starting from a zero
  correction. G then only has to learn what the mixture misses, which on small
  tables it does with far fewer steps. ``n_components="auto"`` chooses 1, 2 or
  3 normals on held-out cells (see :func:`fashionlab.impute.gaussian.choose_components`):
  on the validation masks a mixture helped on wine (clusters) and hurt on
  diabetes (none), and the choice followed that.
  ``start="noise"`` is the original GAIN.
* ``start_transform="yeo-johnson"``: the mixture is fitted to each column's
  Yeo-Johnson transform (standardised, exponents fitted on the observed cells),
  where skewed columns (pollutants, rain, wind) are nearer normal, and each gap
  is filled with the mean of its conditional law mapped back (Gauss-Hermite
  quadrature, see :func:`fashionlab.impute.gaussian.mixture_expected_fill`), not
  the mapped-back conditional mean, which is median-like and RMSE rewards the
  mean. G still corrects that fill in the min-max space.
* ``validation_fraction`` (0, off, by default: see below): each GAN holds out that
  fraction of the observed cells, scores its averaged generator on them every
  ``CHECK_EVERY`` steps, and keeps the best one (early stopping; it stops after
  ``n_iter_no_change`` checks without improvement). On small noisy tables the best
  step count is a few hundred, on larger ones thousands: this chooses it per table.
  With ``start="gaussian"`` step 0 (no correction: the mixture's fill) is a
  candidate too, and on the smallest tables (wine, diabetes) most GANs keep it, so
  there the filling is mostly the mixture's (on validation masks this scored better
  than keeping the 250-step check, which added noise there).
* ``start_folds``: the starting fills the GANs learn to correct (and are checked
  on) come, for each row, from a mixture fitted without that row's fold of rows:
  the mixture fitted on every row fills the cells it has seen far better than
  real gaps, so G learnt to correct fills better than the ones it corrects when
  filling. Filling corrects each fold mixture's fill and averages them.
* ``generator_input="standardised"``: G sees each column's standardised
  Yeo-Johnson transform (the mixture's space) rather than min-max values bunched
  near 0 on skewed columns; its correction stays in the min-max space.
  With these two, a fixed 1000 steps (``validation_fraction=0``) scored better
  on the validation masks of wine, air and diabetes than the early stopping above
  (whose GANs mostly kept step 0, the mixture's fill), which is now off by default.
* ``start_blend``: each gap's starting fill is blended (half and half by default)
  with the prediction of an extra-trees forest per column, fitted on the mixture's
  fill of the other cells (MissForest's learner, in one pass on a good fill instead of
  rounds from column means) and cross-fitted with ``start_folds``. The mixture (smooth,
  a few normals) and the forests (piecewise constant, nonlinear) err in partly
  independent ways; on wine, where the GAN's correction of the mixture's fill tied
  the MissForest-like baseline, the blend alone beat it.
* ``drop_rate``: during training a further fraction of the observed cells is
  hidden from G, and G is also asked to reconstruct those. The original GAIN
  only ever learns to fill cells that are really missing, for which it has no
  target; hiding known cells gives it one, and lets it learn from a table with
  no missing value at all. A ``(low, high)`` pair draws the fraction anew at
  each step, so G learns to fill rows with few and with many gaps.
  ``drop_rate=0`` is the original GAIN.
* ``ema_decay``: the generator kept for filling is an exponential moving
  average of its weights along training (Polyak averaging), which smooths out
  the step-to-step noise of adversarial training.
* ``n_generators``: that many GANs are trained from different seeds and their
  fillings are averaged. RMSE rewards the conditional mean, and the average of
  a few generators is closer to it than any one of them.

The networks are in :mod:`fashionlab.models.imputers`; this module holds the
training step (shared with image inpainting) and :class:`GainImputer`; the mixture
behind the starting fill is in :mod:`fashionlab.impute.gaussian`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from fashionlab.impute.base import BaseImputer, register_imputer
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
from fashionlab.models.imputers import GainDiscriminator, GainGenerator
from fashionlab.runtime.device import torch_threads
from fashionlab.runtime.schedules import EMA

NOISE = 0.01  # gaps are filled with U(0, NOISE) noise in training, as in GAIN's code
CHECK_EVERY = 250  # steps between two scores on the held-out cells (early stopping)
POOL_ROWS = 100_000  # (row, drop mask, starting fill) triples precomputed per GAN
FOREST_ROWS = 2_000  # most rows (a seeded sample per fold) the start_blend forests fit on
BLEND_POOL_ROWS = 30_000  # POOL_ROWS with start_blend: the forests' fills cost more


def gain_train_step(
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: torch.Tensor,
    observed: torch.Tensor,
    given: torch.Tensor,
    hint_rate: float,
    alpha: float,
    start: torch.Tensor | None = None,
) -> dict[str, float]:
    """One discriminator and one generator update on a batch; any tensor shape works.

    Args:
        x: values scaled to [0, 1], anything (e.g. 0) where not observed.
        observed: 1.0 where ``x`` holds a true value.
        given: 1.0 where the value is shown to the generator (a subset of ``observed``).
        hint_rate: probability that the hint reveals a cell's mask value to D.
        alpha: weight of the reconstruction loss on observed cells against the adversarial loss.
        start: a starting fill (equal to ``x`` where given); the generator then
            outputs a correction of it (see :func:`generate`). None: GAIN's noise.
    """
    if start is None:
        x_in = given * x + (1 - given) * NOISE * torch.rand_like(x)
    else:
        x_in = start
    residual = start is not None
    revealed = (torch.rand_like(x) < hint_rate).float()
    hint = given * revealed + 0.5 * (1 - revealed)
    judged = 1 - revealed  # D is scored only where the hint does not give the answer away

    with torch.no_grad():
        fake = generate(generator, x_in, given, residual)
    d_logits = discriminator(given * x + (1 - given) * fake, hint)
    d_loss = _weighted_mean(
        F.binary_cross_entropy_with_logits(d_logits, given, reduction="none"), judged
    )
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    fake = generate(generator, x_in, given, residual)
    d_logits = discriminator(given * x + (1 - given) * fake, hint)
    fooled = F.binary_cross_entropy_with_logits(
        d_logits, torch.ones_like(d_logits), reduction="none"
    )
    adv_loss = _weighted_mean(fooled, (1 - given) * judged)
    rec_loss = _weighted_mean((fake - x) ** 2, observed)
    g_loss = adv_loss + alpha * rec_loss
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return {"d_loss": d_loss.item(), "adv_loss": adv_loss.item(), "rec_loss": rec_loss.item()}


def generate(
    generator: torch.nn.Module, x_in: torch.Tensor, given: torch.Tensor, residual: bool
) -> torch.Tensor:
    """The generator's values for every cell; ``residual``: ``x_in`` plus a correction.

    The generator ends in a sigmoid, so ``2 G - 1`` is a correction in (-1, 1)
    (about 0 at initialisation); the corrected value is clipped to [0, 1].
    """
    out = generator(x_in, given)
    return (x_in + 2 * out - 1).clamp(0, 1) if residual else out


def _is_integer(value) -> bool:
    """``value`` is an integer, not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_whole(value, low: int) -> bool:
    """``value`` is an integer (not a bool) of at least ``low``."""
    return _is_integer(value) and value >= low


def _is_number(value) -> bool:
    """``value`` is a real number (not a bool, not NaN)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and not np.isnan(value))


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


class _StandardisedInput(torch.nn.Module):
    """A generator fed each column's standardised (Yeo-Johnson) transform of its values."""

    def __init__(self, generator: torch.nn.Module, transform: tuple[torch.Tensor, ...]):
        super().__init__()
        self.generator = generator
        self.transform = transform  # (lambdas, mean, std), float64, not trained

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator(yeo_johnson(x, *self.transform).to(x.dtype), mask)


@register_imputer("gain")
class GainImputer(BaseImputer):
    """Fill missing cells with GAIN generators trained on the data given to ``fit``.

    Each column is scaled to [0, 1] with the minimum and maximum of its observed
    values (so columns of any scale weigh the same), and the generators' output
    is scaled back; filled values therefore stay inside each column's observed
    range. ``transform`` is deterministic and fills each row on its own: the
    generators refine the mixture's fill of the row's gaps (or, with
    ``start="noise"``, see the mean of the training noise). The defaults of
    ``start``, ``start_transform``, ``start_folds``, ``generator_input``,
    ``n_iterations``, ``validation_fraction``, ``learning_rate``, ``batch_size``,
    ``alpha``, ``drop_rate``, ``ema_decay``, ``n_generators`` and ``start_blend`` are
    the settings that scored best on validation masks of small tables; see the
    module docstring for what each addition does. ``start_blend=0`` gives the
    previous defaults (commit 09b8b00) back; ``n_iterations=4000,
    validation_fraction=0.05, start_folds=0, generator_input="scaled", start_blend=0``
    the ones before (commit 71fbfc6).

    Parameters
    ----------
    n_iterations : int, default=1000
        Most training steps of each GAN (one discriminator and one generator
        update each); with ``validation_fraction`` early stopping may end it
        sooner. (Before: 4000 steps with ``validation_fraction=0.05``.)
    batch_size : int, default=512
        Rows per step, drawn with replacement (512 scored better than 128 on the
        validation masks: less gradient noise for the same number of steps).
    hidden_size : int or None, default=None
        Width of the hidden layers; None means ``max(n_features, 64)``.
    depth : int, default=2
        Hidden layers in the generator and in the discriminator.
    hint_rate : float, default=0.9
        Probability that the hint reveals a cell's mask value to the discriminator.
    alpha : float, default=1000.0
        Weight of the reconstruction loss against the adversarial loss (GAIN's
        code uses 100; 1000 scored better on average over the validation masks,
        not on every table).
    drop_rate : float or (float, float), default=(0.1, 0.5)
        Fraction of observed cells hidden from the generator at each step, which
        it must reconstruct; a pair ``(low, high)`` draws it uniformly (0 = the
        original GAIN).
    start : {"gaussian", "noise"}, default="gaussian"
        What the generator receives in the gaps: the conditional mean under a
        mixture of multivariate normals fitted by EM, which it corrects
        (residual generator), or GAIN's small noise, which it replaces.
    start_transform : {"yeo-johnson"} or None, default="yeo-johnson"
        With ``start="gaussian"``: fit that mixture to each column's
        standardised Yeo-Johnson transform (exponents by maximum likelihood on
        the observed cells) and fill each gap with the mean of its conditional
        law mapped back to the column; None fits it to the min-max values.
        Ignored with ``start="noise"``.
    n_components : int or "auto", default="auto"
        Normals in that mixture; "auto" picks 1, 2 or 3 by the error of their
        fills on three folds of 10% held-out observed cells (on at most 2,000 rows).
    validation_fraction : float, default=0.0
        Fraction of the observed cells each GAN holds out (a different draw per
        GAN) to choose its number of steps, at least one cell (a table of a few rows
        drew none, and trained every step); 0 trains ``n_iterations`` steps (the
        default since the fixed 1000 steps with ``start_folds`` and the standardised
        input scored better on the validation masks than early stopping on 5%
        held-out cells, whose few dozen cells on small tables are a noisy judge).
    n_iter_no_change : int, default=4
        Checks (every ``CHECK_EVERY`` = 250 steps) without a better score on the
        held-out cells before a GAN stops.
    start_folds : int, default=5
        With ``start="gaussian"`` and a value k >= 2: the rows are split into k folds,
        and the starting fill that the GANs train on and stop early on comes, for each
        row, from a mixture fitted without that row's fold, so the held-out cells are
        scored on a fill that never saw them (the mixture fitted on every row fills the
        cells it has seen about twice as well as real gaps on wine). Filling then
        corrects each fold mixture's fill and averages them. 0: one mixture fitted on
        every row (the previous default; see ``benchmarks/impute_tables.py``).
    start_blend : float, default=0.5
        With ``start="gaussian"``: weight, in [0, 1], of a forest's fill in the starting
        fill. Each column gets an extra-trees forest (half the other columns tried at each
        split) that predicts it from the row's other cells of the mixture's fill; each gap
        starts at ``start_blend`` times its forest's prediction plus the rest times the
        mixture's fill. With ``start_folds`` the forests are cross-fitted like the mixtures
        (one set per fold, fitted on the other folds' rows and the fold mixture's fill of
        them), so G trains on starting fills that never saw the cells it corrects (filling
        averages the k folds' blends, as it does the mixtures'); without folds they are
        fitted on every row. A fold's forests are fitted on at most ``FOREST_ROWS`` = 2,000
        rows (a seeded sample), so long tables stay fast. Their errors are partly independent of the
        mixture's: half and half scored better than either alone on the validation masks of
        wine, air and diabetes (see ``benchmarks/impute_tables.py``). Each GAN's pool of
        precomputed starting fills then holds ``BLEND_POOL_ROWS`` = 30,000 (row, mask) pairs
        instead of ``POOL_ROWS`` = 100,000 (the forests' predictions cost more). 0: the
        mixture's fill alone (the previous default, the previous pools).
    forest_trees : int, default=100
        Trees in each ``start_blend`` forest (MissForest-like's count; 20 scored a little
        worse on the validation masks of wine and diabetes, for about two thirds of the fit
        time).
    forest_max_columns : int or None, default=None
        Most other columns each split of a ``start_blend`` forest draws from: half of them,
        at most this many (None: no cap, half of them). A speed option for wide tables:
        on the validation cells of 1,000 hours of the 132-column air-quality table
        (``benchmarks/impute_tables.py --tables air-wide``), 15 made the default fit 1.5
        times faster (323 s against 476 s) for a 2% higher RMSE (0.0438 against 0.0429),
        so the default keeps every column's half. 15 leaves tables of up to 31 columns as
        they are.
    n_jobs : int or None, default=None
        Parallel jobs of each ``start_blend`` forest (scikit-learn's meaning: None is one,
        -1 every core). The fill does not depend on it. On two idle cores, 2 made a default
        fit of 500 synthetic rows 1.20 times faster with 60 columns (63 s against 76 s) and
        1.38 times with 150 (240 s against 332 s), where the forests cost more
        (``benchmarks/impute_width.py``).
    generator_input : {"scaled", "standardised"}, default="standardised"
        What the generator sees of the values: their min-max scaling (GAIN's, the
        previous default), or each column's standardised Yeo-Johnson transform
        (``start_transform``; plain standardisation without it), inputs of the
        scale a network learns from best. Its output is a correction in the
        min-max space either way (the space of the RMSE). Ignored with ``start="noise"``.
    ema_decay : float, default=0.999
        Decay of the moving average of the generator's weights that is kept for
        filling (0 = keep the last weights).
    n_generators : int, default=3
        GANs trained from different seeds; their fillings are averaged.
    learning_rate : float, default=3e-4
        Adam learning rate of both networks (3e-4 scored better than 1e-3 with
        the Gaussian start on the validation masks).
    n_threads : int or None, default=1
        PyTorch CPU threads while fitting and filling (None = PyTorch's setting).
        One is fastest for these small networks: more threads cost more in
        synchronisation than they save, and much more on a busy machine.
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the masks and the noise.

    Attributes
    ----------
    generators_ : list of GainGenerator
        The averaged generators (in eval mode), one per GAN.
    n_components_ : int or None
        Normals in the fitted mixture (None with ``start="noise"``).
    component_scores_ : list of float or None
        With ``n_components="auto"``: the held-out error of 1, 2 and 3 normals.
    weights_, means_, covariances_ : Tensor
        The fitted mixture on the scaled values (their Yeo-Johnson transforms with
        ``start_transform``), float64, of shapes (K,), (K, n_features) and
        (K, n_features, n_features) (None with ``start="noise"``).
    lambdas_ : Tensor or None
        With ``start_transform="yeo-johnson"``: each column's Yeo-Johnson exponent
        (float64, on the min-max values); the transformed values are standardised
        with ``transform_mean_`` and ``transform_std_`` (all three None otherwise).
    row_folds_ : Tensor or None
        With ``start_folds``: each row's fold (None otherwise).
    fold_mixtures_ : list of (weights, means, covariances) or None
        With ``start_folds``: the mixture fitted without each fold (None otherwise).
    fold_forests_ : list of list of ExtraTreesRegressor or None
        With ``start_blend``: for each fold (one entry without folds), each column's
        forest (None for a column the fold's other rows never observe); None without
        ``start_blend`` or with one column.
    input_transform_ : tuple of Tensor or None
        With ``generator_input="standardised"``: the (exponents, mean, std) of the
        generator's input transform (None otherwise).
    stop_steps_ : list of int
        The step whose averaged generator each GAN kept (0: no correction).
    low_ : ndarray of shape (n_features,)
        Observed minimum of each column.
    span_ : ndarray of shape (n_features,)
        Observed range of each column (1 where the column is constant).
    history_ : list of dict
        Losses every 100 steps of each GAN (``generator``, ``step``, ``d_loss``,
        ``adv_loss``, ``rec_loss``) and, at each check, ``held_out_mse``.
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    References
    ----------
    J. Yoon, J. Jordon, M. van der Schaar. "GAIN: Missing Data Imputation using
    Generative Adversarial Nets", ICML 2018.
    """

    def __init__(
        self, *, n_iterations: int = 1000, batch_size: int = 512, hidden_size: int | None = None,
        depth: int = 2, hint_rate: float = 0.9, alpha: float = 1000.0,
        drop_rate: float | tuple[float, float] = (0.1, 0.5), start: str = "gaussian",
        start_transform: str | None = "yeo-johnson", n_components: int | str = "auto",
        validation_fraction: float = 0.0,
        n_iter_no_change: int = 4, start_folds: int = 5, start_blend: float = 0.5,
        forest_trees: int = 100, forest_max_columns: int | None = None, n_jobs: int | None = None,
        generator_input: str = "standardised",
        ema_decay: float = 0.999, n_generators: int = 3, learning_rate: float = 3e-4,
        n_threads: int | None = 1, missing_values: float = np.nan, round_integers: bool = True,
        random_state=None,
    ):
        self.n_iterations = n_iterations
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.depth = depth
        self.hint_rate = hint_rate
        self.alpha = alpha
        self.drop_rate = drop_rate
        self.start = start
        self.start_transform = start_transform
        self.n_components = n_components
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.start_folds = start_folds
        self.start_blend = start_blend
        self.forest_trees = forest_trees
        self.forest_max_columns = forest_max_columns
        self.n_jobs = n_jobs
        self.generator_input = generator_input
        self.ema_decay = ema_decay
        self.n_generators = n_generators
        self.learning_rate = learning_rate
        self.n_threads = n_threads
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    def _drop_range(self) -> tuple[float, float]:
        """``drop_rate`` as a (low, high) pair, checked."""
        rate = self.drop_rate
        if _is_number(rate):
            pair = (rate, rate)
        elif isinstance(rate, tuple | list | np.ndarray):
            pair = tuple(np.ravel(rate))
        else:
            pair = ()
        if not (len(pair) == 2 and all(map(_is_number, pair)) and 0 <= pair[0] <= pair[1] < 1):
            raise ValueError(
                f"drop_rate must be in [0, 1) or a pair low <= high in [0, 1), got {rate!r}"
            )
        return float(pair[0]), float(pair[1])

    def _check_params(self) -> None:
        for name in ("n_iterations", "batch_size", "depth", "n_generators", "n_iter_no_change",
                     "forest_trees"):
            if not _is_whole(getattr(self, name), 1):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("hidden_size", "forest_max_columns", "n_threads"):
            value = getattr(self, name)
            if value is not None and not _is_whole(value, 1):
                raise ValueError(f"{name} must be None or a positive integer, got {value!r}")
        for name, (interval, inside) in {
            "hint_rate": ("[0, 1]", lambda v: 0 <= v <= 1),
            "start_blend": ("[0, 1]", lambda v: 0 <= v <= 1),
            "ema_decay": ("[0, 1)", lambda v: 0 <= v < 1),
            "validation_fraction": ("[0, 1)", lambda v: 0 <= v < 1),
            "alpha": ("[0, infinity)", lambda v: 0 <= v < np.inf),
            "learning_rate": ("[0, infinity)", lambda v: 0 <= v < np.inf),  # 0: no GAN step
        }.items():
            value = getattr(self, name)
            if not (_is_number(value) and inside(value)):
                raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
        self._drop_range()
        if not (_is_whole(self.start_folds, 0) and self.start_folds != 1):
            raise ValueError(f"start_folds must be 0 or an integer >= 2, got {self.start_folds!r}")
        if self.generator_input not in ("scaled", "standardised"):
            raise ValueError("generator_input must be 'scaled' or 'standardised', "
                             f"got {self.generator_input!r}")
        if self.start not in ("gaussian", "noise"):
            raise ValueError(f"start must be 'gaussian' or 'noise', got {self.start!r}")
        if self.start_transform not in (None, "yeo-johnson"):
            raise ValueError(
                f"start_transform must be None or 'yeo-johnson', got {self.start_transform!r}")
        jobs = self.n_jobs  # scikit-learn's: -1 every core, -2 all but one...
        if jobs is not None and not (_is_integer(jobs) and jobs != 0):
            raise ValueError(f"n_jobs must be None or a nonzero integer, got {jobs!r}")
        if not (self.n_components == "auto" or _is_whole(self.n_components, 1)):
            raise ValueError(
                f"n_components must be 'auto' or a positive integer, got {self.n_components!r}")

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        drop = self._drop_range()
        self.low_ = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - self.low_
        self.span_ = np.where(span > 0, span, 1.0)
        x, observed = self._scaled(X)
        self.n_components_ = self.component_scores_ = None
        self.weights_ = self.means_ = self.covariances_ = None
        self.lambdas_ = self.transform_mean_ = self.transform_std_ = None
        self.row_folds_ = self.fold_mixtures_ = self.fold_forests_ = None
        if self.start == "gaussian":
            x64, observed64 = x.double(), observed.double()
            if self.start_transform == "yeo-johnson":
                self.lambdas_, self.transform_mean_, self.transform_std_ = fit_yeo_johnson(
                    x64, observed64)
                x64 = self._forward(x64) * observed64
            self._fit_mixture(x64, observed64, rng)
            self._fit_fold_mixtures(x64, observed64, rng)
            self._fit_forests(x, observed, rng)
        self.input_transform_ = None
        if self.generator_input == "standardised" and self.start == "gaussian":
            self.input_transform_ = (
                (self.lambdas_, self.transform_mean_, self.transform_std_)
                if self.lambdas_ is not None
                else fit_yeo_johnson(x.double(), observed.double(), transform=False))
        self.generators_, self.history_, self.stop_steps_ = [], [], []
        for k in range(self.n_generators):
            seed = int(rng.integers(0, 2**31 - 1))
            with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
                torch.manual_seed(seed)
                held = self._held_out(observed)
                generator, history, stop = self._train_gan(x, observed - held, held, drop)
            self.generators_.append(generator)
            self.stop_steps_.append(stop)
            self.history_ += [{"generator": k, **h} for h in history]

    def _held_out(self, observed: torch.Tensor) -> torch.Tensor:
        """The cells one GAN holds out: ``validation_fraction`` of the observed ones, at least
        one when that fraction is positive (and two cells are observed). On a tiny table
        (a few rows) the fraction alone often draws none, and without a held-out cell the
        GAN cannot stop early: it trained all ``n_iterations`` steps."""
        held = observed * (torch.rand_like(observed) < self.validation_fraction).float()
        if self.validation_fraction > 0 and not held.any() and observed.sum() >= 2:
            cell = torch.multinomial(observed.flatten(), 1)
            held.view(-1)[cell] = 1.0
        return held

    def _fit_mixture(self, x: torch.Tensor, observed: torch.Tensor,
                     rng: np.random.Generator) -> None:
        """The mixture behind the starting fill; the number of normals chosen on held-out cells."""
        k = self.n_components
        # one normal needs no seed: the generators' seeds then match a fit without mixtures
        seed = 0 if k == 1 else int(rng.integers(0, 2**31 - 1))
        with torch_threads(self.n_threads):
            if k == "auto":
                k, self.component_scores_ = choose_components(x, observed, seed=seed)
            self.n_components_ = int(k)
            self.weights_, self.means_, self.covariances_ = fit_mixture(x, observed, k, seed=seed)

    def _fit_fold_mixtures(self, x: torch.Tensor, observed: torch.Tensor,
                           rng: np.random.Generator) -> None:
        """With ``start_folds``: the rows' folds and one mixture fitted without each fold."""
        folds = min(self.start_folds, len(x))  # a table of one row: nothing to fold
        if folds < 2:
            return
        self.row_folds_ = torch.from_numpy(rng.permutation(len(x)) % folds)
        seed = int(rng.integers(0, 2**31 - 1))
        with torch_threads(self.n_threads):
            self.fold_mixtures_ = []
            for f in range(folds):
                rows = self.row_folds_ != f  # a tiny table: no more normals than rows
                k = min(self.n_components_, int(rows.sum()))
                self.fold_mixtures_.append(fit_mixture(x[rows], observed[rows], k, seed=seed))

    def _fit_forests(self, x: torch.Tensor, observed: torch.Tensor,
                     rng: np.random.Generator) -> None:
        """With ``start_blend``: for each fold (or once, on every row, without folds), one
        extra-trees forest per column, predicting it from the other columns of the rows'
        starting fill (the fold mixture's), fitted on the rows outside the fold."""
        if self.start_blend == 0 or x.shape[1] < 2:
            return
        seed = int(rng.integers(0, 2**31 - 1))
        folds = self.fold_mixtures_ or [None]
        given = observed.numpy().astype(bool)
        self.fold_forests_ = []
        with torch_threads(self.n_threads):
            for f in range(len(folds)):
                rows = np.flatnonzero(self.row_folds_ != f) if self.row_folds_ is not None \
                    else np.arange(len(x))
                if len(rows) > FOREST_ROWS:  # a long table: a sample, the forests fit in seconds
                    rows = np.sort(np.random.default_rng([seed, f]).choice(
                        rows, FOREST_ROWS, replace=False))
                fill = self._mixture_start(x[rows], observed[rows], folds[f]).double().numpy()
                # a column seen only in fold f gets no forest (None)
                self.fold_forests_.append(
                    fit_column_forests(fill, given[rows], self.forest_trees, seed,
                                       self.forest_max_columns, self.n_jobs))

    def _train_start(self, x: torch.Tensor, given: torch.Tensor,
                     rows: torch.Tensor) -> torch.Tensor:
        """The starting fill of training rows ``rows`` (``x`` and ``given`` are those rows):
        with ``start_folds``, each row's from the mixture (and forests) fitted without its
        fold."""
        if self.fold_mixtures_ is None:  # no folds (always so with start="noise")
            return self._start(x, given)
        out = torch.empty_like(x)
        fold = self.row_folds_[rows]
        for f in range(len(self.fold_mixtures_)):
            pick = fold == f
            if pick.any():
                out[pick] = self._start(x[pick], given[pick], f)
        return out

    def _train_gan(
        self, x: torch.Tensor, observed: torch.Tensor, held: torch.Tensor,
        drop: tuple[float, float],
    ) -> tuple[torch.nn.Module, list[dict], int]:
        """Train one GAN on the ``observed`` cells, stopping early on the ``held`` ones.

        Returns the kept weight-averaged generator, the loss history and its step.
        """
        n, d = x.shape
        hidden = self.hidden_size or max(d, 64)
        generator = GainGenerator(d, hidden, self.depth)
        if self.start == "gaussian":
            # the correction starts at exactly 0 (untrained, G returns the mixture's fill)
            # rather than at a random offset of about 0.1: better on the validation masks
            torch.nn.init.zeros_(generator.net[-1].weight)
            torch.nn.init.zeros_(generator.net[-1].bias)
        if self.input_transform_ is not None:
            generator = _StandardisedInput(generator, self.input_transform_)
        discriminator = GainDiscriminator(d, hidden, self.depth)
        averaged = EMA(generator, self.ema_decay)  # its decay warms up, see train.recipe.EMA
        opt_g = torch.optim.Adam(generator.parameters(), lr=self.learning_rate)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.learning_rate)
        pool = self._pool(x, observed, drop) if self.start == "gaussian" else None
        checked = bool(held.any())
        x_check = self._train_start(x, observed, torch.arange(n)) if checked else None
        best, best_state, stop, since = np.inf, None, self.n_iterations, 0
        history = []
        if checked and pool is not None:  # step 0 is a candidate: G's correction starts at 0
            best = self._held_out_mse(averaged.model, x, x_check, observed, held)
            best_state, stop = copy.deepcopy(averaged.model.state_dict()), 0
            history.append({"step": 0, "held_out_mse": best})
        for step in range(1, self.n_iterations + 1):
            if pool is None:
                rows = torch.randint(0, n, (self.batch_size,))
                rate = drop[0] + (drop[1] - drop[0]) * torch.rand(()).item()
                given = observed[rows] * (torch.rand(self.batch_size, d) >= rate).float()
                start = None
            else:  # precomputed (row, mask, starting fill) triples: solves are costly
                pick = torch.randint(0, len(pool[0]), (self.batch_size,))
                rows, given, start = pool[0][pick], pool[1][pick], pool[2][pick]
            losses = gain_train_step(
                generator, discriminator, opt_g, opt_d, x[rows], observed[rows], given,
                self.hint_rate, self.alpha, start,
            )
            averaged.update(step - 1)
            if step % 100 == 0 or step == self.n_iterations:
                history.append({"step": step, **losses})
            if checked and (step % CHECK_EVERY == 0 or step == self.n_iterations):
                score = self._held_out_mse(averaged.model, x, x_check, observed, held)
                history.append({"step": step, "held_out_mse": score})
                if score < best:
                    best, stop, since = score, step, 0
                    best_state = copy.deepcopy(averaged.model.state_dict())
                else:
                    since += 1
                    if since >= self.n_iter_no_change:
                        break
        if best_state is not None:
            averaged.model.load_state_dict(best_state)
        return averaged.model, history, stop

    def _held_out_mse(
        self, generator: torch.nn.Module, x: torch.Tensor, x_check: torch.Tensor,
        observed: torch.Tensor, held: torch.Tensor,
    ) -> float:
        """Mean squared error of ``generator``'s filling on the ``held`` cells."""
        with torch.no_grad():
            filled = generate(generator, x_check, observed, self.start == "gaussian")
        return _weighted_mean((filled - x) ** 2, held).item()

    def _pool(
        self, x: torch.Tensor, observed: torch.Tensor, drop: tuple[float, float]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows, drop masks and the mixture's fill of each, drawn once per GAN.

        Up to ``POOL_ROWS`` (row, mask) pairs, each row with several masks: one
        batched solve per training step would cost more than the step itself.
        """
        pool_rows = POOL_ROWS if self.fold_forests_ is None else BLEND_POOL_ROWS
        size = min(pool_rows, self.n_iterations * self.batch_size)
        rows = torch.randint(0, len(x), (size,))
        rate = drop[0] + (drop[1] - drop[0]) * torch.rand(size, 1)
        given = observed[rows] * (torch.rand(size, x.shape[1]) >= rate).float()
        return rows, given, self._train_start(x[rows], given, rows)

    def _start(self, x: torch.Tensor, given: torch.Tensor, fold: int | None = None
               ) -> torch.Tensor:
        """The generators' input: the mixture's fill (``fold``: the mixture fitted without
        that fold; None: the one fitted on every row), with ``start_blend`` blended with
        the forests' (those of ``fold``; without folds, the ones fitted on every row)."""
        mixture = None if fold is None else self.fold_mixtures_[fold]
        out = self._mixture_start(x, given, mixture)
        forests = self.fold_forests_
        if forests is None or (fold is None and self.fold_mixtures_ is not None):
            return out  # no forests, or none fitted on every row
        blended = blend_forest_fill(out.double().numpy(), ~given.numpy().astype(bool),
                                    forests[fold or 0], self.start_blend)
        return torch.from_numpy(blended).to(out.dtype)

    def _mixture_start(self, x: torch.Tensor, given: torch.Tensor, mixture=None) -> torch.Tensor:
        """The mixture's fill (``mixture``: (weights, means, covariances), default the one
        fitted on every row); GAIN's noise mean with ``start="noise"``."""
        if self.start == "gaussian":
            mixture = mixture or (self.weights_, self.means_, self.covariances_)
        if self.start == "gaussian" and self.lambdas_ is not None:
            z = self._forward(x) * given.double()
            expected = mixture_expected_fill(
                z, given, *mixture,
                lambda t: yeo_johnson_inverse(
                    t, self.lambdas_, self.transform_mean_, self.transform_std_))
            return (given * x + (1 - given) * expected.to(x.dtype)).to(x.dtype)
        if self.start == "gaussian":
            return mixture_fill(x, given, *mixture)
        return given * x + (1 - given) * (NOISE / 2)  # the mean of the training noise

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled values in the mixture's space (``start_transform="yeo-johnson"``), float64."""
        return yeo_johnson(x, self.lambdas_, self.transform_mean_, self.transform_std_)

    def _fill_each(self, X: np.ndarray) -> list[np.ndarray]:
        """Each generator's values for every cell of ``X``, in the original units."""
        x, given = self._scaled(X)
        folds = self.fold_mixtures_
        with torch.no_grad(), torch_threads(self.n_threads):
            # with start_folds, G learnt to correct the fold mixtures' fills: it corrects
            # each of them, and the corrected fills are averaged
            starts = [self._start(x, given, f) for f in range(len(folds))] if folds else [
                self._start(x, given)]
            each = [torch.stack([generate(g, x_in, given, self.start == "gaussian")
                                 for x_in in starts]).mean(0) for g in self.generators_]
        return [e.double().numpy() * self.span_ + self.low_ for e in each]

    def _impute(self, X: np.ndarray) -> np.ndarray:
        return np.mean(self._fill_each(X), axis=0)

    def _scaled(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(values scaled to [0, 1] with 0 in the gaps, observed mask) as float32 tensors."""
        observed = ~np.isnan(X)
        scaled = np.where(observed, (X - self.low_) / self.span_, 0.0)
        return torch.from_numpy(scaled.astype(np.float32)), torch.from_numpy(
            observed.astype(np.float32)
        )
