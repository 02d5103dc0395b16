"""GAIN: Generative Adversarial Imputation Nets (Yoon, Jordon & van der Schaar, ICML 2018).

A generator G sees a row with its gaps filled plus the mask of given cells, and proposes
a value for every cell; a discriminator D sees the completed row and a hint and guesses
which cells were given (the step and the loop: :mod:`fashionlab.impute.gain_training`;
the networks: :mod:`fashionlab.impute.gain_networks`). G is trained to fool D on the
filled cells and to reproduce the given cells (weight ``alpha``).

Additions to the GAN, each chosen on validation masks of small tables (how, and what
each scored: ``benchmarks/impute_tables_notes.md``):

* ``start="gaussian"``: G receives in each gap the fill of
  :class:`~fashionlab.impute.mixture_forest.MixtureForestImputer` (a mixture of normals
  blended with extra-trees forests, cross-fitted on folds of rows) and outputs a
  *correction* of it, starting from a zero correction: G then only has to learn what
  that fill misses, which on small tables takes far fewer steps. ``start="noise"`` is the
  original GAIN (small noise in the gaps, which G replaces).
* ``generator_input="standardised"``: G sees each column's standardised Yeo-Johnson
  transform (the mixture's space), inputs of the scale a network learns from best, rather
  than min-max values bunched near 0 on skewed columns; its correction stays in the
  min-max space (the space of the RMSE).
* ``drop_rate``: during training a further fraction of the observed cells is hidden from
  G, which must reconstruct them. The original GAIN only learns to fill cells that are
  really missing, for which it has no target; hiding known cells gives it one (and lets
  it learn from a table with no gap). A ``(low, high)`` pair draws the fraction anew at
  each step, so G learns rows with few and with many gaps.
* ``ema_decay``: the generator kept is an exponential moving average of its weights
  (Polyak averaging), which smooths the step-to-step noise of adversarial training.
* ``n_generators``: GANs from different seeds, their fills averaged. RMSE rewards the
  conditional mean, and the average of a few generators is closer to it than any one.
* ``validation_fraction`` (off by default): each GAN holds out that fraction of the
  observed cells, scores its averaged generator on them every ``CHECK_EVERY`` steps and
  keeps the best (with a starting fill, step 0, no correction, is a candidate too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from fashionlab.impute.base import (
    NONZERO_INTEGER,
    MinMaxImputer,
    Rule,
    draw_seed,
    is_number,
    number_in,
    one_of,
    optional,
    register_imputer,
    whole,
)
from fashionlab.impute.gain_networks import GainDiscriminator, GainGenerator
from fashionlab.impute.gain_training import (
    NOISE,
    GainLoss,
    GainNetworks,
    GainSchedule,
    gain_objective,
    generate,
    noise_fill,
    train_gain,
    weighted_mean,
)
from fashionlab.impute.gaussian import fit_yeo_johnson, yeo_johnson
from fashionlab.impute.mixture_forest import (
    COMPONENTS,
    FOLDS,
    POWER_TRANSFORMS,
    MixtureForestImputer,
)
from fashionlab.runtime.budget import CLOCKS, Budget
from fashionlab.runtime.device import torch_threads
from fashionlab.runtime.schedules import EMA

CHECK_EVERY = 250  # steps between two scores on the held-out cells (early stopping)
POOL_ROWS = 100_000  # (row, drop mask, starting fill) triples precomputed per GAN
BLEND_POOL_ROWS = 30_000  # POOL_ROWS with the forests' blend: their fills cost more
POOL_BLOCK = 2048  # pool rows filled at a time
POOL_SHARE = 0.25  # with a time budget: the most of each GAN's share its pool may use


def drop_pair(rate) -> tuple[float, float] | None:
    """``drop_rate`` (a fraction, or a pair low <= high) as a (low, high) pair in [0, 1);
    None when it is neither."""
    if is_number(rate):
        pair = (rate, rate)
    elif isinstance(rate, tuple | list | np.ndarray):
        pair = tuple(np.ravel(rate))
    else:
        pair = ()
    if len(pair) == 2 and all(map(is_number, pair)) and 0 <= pair[0] <= pair[1] < 1:
        return float(pair[0]), float(pair[1])
    return None


def _noise_mean(x: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """``x`` where given, the mean of GAIN's training noise in the gaps."""
    return given * x + (1 - given) * (NOISE / 2)


class _StandardisedInput(torch.nn.Module):
    """A generator fed each column's standardised (Yeo-Johnson) transform of its values."""

    def __init__(self, generator: torch.nn.Module, transform: tuple[torch.Tensor, ...]):
        super().__init__()
        self.generator = generator
        self.transform = transform  # (lambdas, mean, std), float64, not trained

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator(yeo_johnson(x, *self.transform).to(x.dtype), mask)


class _EarlyStopping:
    """The best checked generator state so far, and when to give up."""

    def __init__(self, patience: int):
        self.patience, self.best, self.state, self.step, self.since = patience, np.inf, None, 0, 0

    def keep(self, score: float, step: int, model: torch.nn.Module) -> None:
        """Keep ``model``'s state, scored ``score`` at ``step``, as the best."""
        self.best, self.step, self.since = score, step, 0
        self.state = copy.deepcopy(model.state_dict())

    def check(self, score: float, step: int, model: torch.nn.Module) -> bool:
        """Record a check's score; True when ``patience`` checks in a row were no better."""
        if score < self.best:
            self.keep(score, step, model)
            return False
        self.since += 1
        return self.since >= self.patience


@register_imputer("gain")
class GainImputer(MinMaxImputer):
    """Fill missing cells with GAIN generators trained on the data given to ``fit``.

    Each column is scaled to [0, 1] with the minimum and maximum of its observed
    values (so columns of any scale weigh the same), and the generators' output
    is scaled back; filled values therefore stay inside each column's observed
    range. ``transform`` is deterministic and fills each row on its own: the
    generators correct the starting fill of the row's gaps (with ``start="noise"``,
    they see the mean of the training noise). The defaults are the settings that
    scored best on validation masks of small tables (see the module docstring).

    Parameters
    ----------
    n_iterations : int, default=1000
        Most training steps of each GAN (one discriminator and one generator
        update each); with ``validation_fraction`` early stopping may end it sooner.
    batch_size : int, default=512
        Rows per step, drawn with replacement (larger batches: less gradient noise for
        the same number of steps).
    hidden_size : int or None, default=None
        Width of the hidden layers; None means ``max(n_features, 64)``.
    depth : int, default=2
        Hidden layers in the generator and in the discriminator.
    hint_rate : float, default=0.9
        Probability that the hint reveals a cell's mask value to the discriminator.
    alpha : float, default=1000.0
        Weight of the reconstruction loss against the adversarial loss (GAIN's code
        uses 100).
    drop_rate : float or (float, float), default=(0.1, 0.5)
        Fraction of observed cells hidden from the generator at each step, which
        it must reconstruct; a pair ``(low, high)`` draws it uniformly (0 = the
        original GAIN).
    start : {"gaussian", "noise"}, default="gaussian"
        What the generator receives in the gaps: the fill of a
        :class:`~fashionlab.impute.mixture_forest.MixtureForestImputer` (the
        ``start_*``, ``n_components``, ``forest_*`` and ``n_jobs`` parameters are its),
        which it corrects (residual generator), or GAIN's small noise, which it replaces.
    start_transform : {"yeo-johnson"} or None, default="yeo-johnson"
        The starting fill's ``power_transform``: fit its mixture to each column's
        standardised Yeo-Johnson transform and fill each gap with the mean of its
        conditional law mapped back (skewed columns are nearer normal there); None fits
        it to the min-max values.
    n_components : int or "auto", default="auto"
        Normals in the starting fill's mixture; "auto" picks 1, 2 or 3 by the error of
        their fills on held-out observed cells.
    validation_fraction : float, default=0.0
        Fraction of the observed cells each GAN holds out (a different draw per GAN, at
        least one cell) to choose its number of steps; 0 trains ``n_iterations`` steps.
        On small tables the few dozen held-out cells are a noisy judge.
    n_iter_no_change : int, default=4
        Checks (every ``CHECK_EVERY`` = 250 steps) without a better score on the
        held-out cells before a GAN stops.
    start_folds : int, default=5
        The starting fill's ``n_folds``: with k >= 2, the fill each GAN trains on (and is
        checked on) comes, for each row, from models fitted without that row's fold, so
        G learns to correct fills of cells they never saw, like real gaps; filling
        corrects each fold's fill and averages them. 0: one fill fitted on every row.
    start_blend : float, default=0.5
        The starting fill's ``forest_weight``, in [0, 1]: weight of the extra-trees
        forests' prediction against the mixture's fill in each gap (0: the mixture alone).
        Each GAN then draws its precomputed starting fills from ``BLEND_POOL_ROWS``
        (row, mask) pairs instead of ``POOL_ROWS`` (the forests' predictions cost more).
    forest_trees : int, default=100
        Trees in each of the starting fill's forests.
    forest_max_columns : int or None, default=None
        Most other columns each split of a starting-fill forest draws from: half of them,
        at most this many (None: half of them). A speed option for wide tables, for a
        slightly higher error.
    n_jobs : int or None, default=None
        Parallel jobs of each starting-fill forest (scikit-learn's meaning: None is one,
        -1 every core). The fill does not depend on it.
    generator_input : {"scaled", "standardised"}, default="standardised"
        What the generator sees of the values: their min-max scaling (GAIN's), or each
        column's standardised Yeo-Johnson transform (``start_transform``; plain
        standardisation without it). Its output is a correction in the min-max space
        either way. Ignored with ``start="noise"``.
    ema_decay : float, default=0.999
        Decay of the moving average of the generator's weights that is kept for
        filling (0 = keep the last weights).
    n_generators : int, default=3
        GANs trained from different seeds; their fillings are averaged.
    learning_rate : float, default=3e-4
        Adam learning rate of both networks.
    max_seconds : float or None, default=None
        A time budget for the whole ``fit``: the starting fill first, then the GANs share
        what is left equally, each stopping when its share is spent (or at
        ``n_iterations``). A GAN stopped before its first step keeps the starting fill.
        The result then depends on the machine's speed: leave it None for runs that
        repeat exactly.
    budget_clock : {"wall", "cpu"}, default="wall"
        What ``max_seconds`` counts: wall time, or this process's CPU time (fair between
        methods on a shared machine).
    n_threads : int or None, default=1
        PyTorch CPU threads while fitting and filling (None = PyTorch's setting).
        One is fastest for these small networks: more threads cost more in
        synchronisation than they save, and much more on a busy machine.
    missing_values : float, default=np.nan
        The value that marks a missing cell.
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are whole numbers.
    random_state : int, RandomState instance or None, default=None
        Seeds the starting fill, the weights, the batches, the masks and the noise.

    Attributes
    ----------
    start_fill_ : MixtureForestImputer or None
        The fitted starting fill (None with ``start="noise"``); usable on its own.
    generators_ : list of torch.nn.Module
        The averaged generators (in eval mode), one per GAN.
    input_transform_ : tuple of Tensor or None
        With ``generator_input="standardised"``: the (exponents, mean, std) of the
        generator's input transform (None otherwise).
    stop_steps_ : list of int
        The step whose averaged generator each GAN kept (0: no correction); without
        early stopping, the steps it trained.
    history_ : list of dict
        Losses every 100 steps of each GAN (``generator``, ``step``, ``d_loss``,
        ``adv_loss``, ``rec_loss``) and, at each check, ``held_out_mse``.
    low_, span_ : ndarray of shape (n_features,)
        Observed minimum and range of each column (range 1 where a column is constant).
    integer_columns_ : ndarray of bool, shape (n_features,)
        Columns treated as integer columns.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    References
    ----------
    J. Yoon, J. Jordon, M. van der Schaar. "GAIN: Missing Data Imputation using
    Generative Adversarial Nets", ICML 2018.
    """

    _parameter_rules = {
        "n_iterations": whole(1),
        "batch_size": whole(1),
        "depth": whole(1),
        "n_generators": whole(1),
        "n_iter_no_change": whole(1),
        "forest_trees": whole(1),
        "hidden_size": optional(whole(1)),
        "forest_max_columns": optional(whole(1)),
        "n_threads": optional(whole(1)),
        "max_seconds": optional(number_in(0, np.inf)),
        "budget_clock": one_of(*CLOCKS),
        "hint_rate": number_in(0, 1),
        "start_blend": number_in(0, 1),
        "ema_decay": number_in(0, 1, closed=False),
        "validation_fraction": number_in(0, 1, closed=False),
        "alpha": number_in(0, np.inf, closed=False),
        "learning_rate": number_in(0, np.inf, closed=False),  # 0: no GAN step
        "drop_rate": Rule("in [0, 1) or a pair low <= high in [0, 1)",
                          lambda v: drop_pair(v) is not None),
        "start_folds": FOLDS,
        "generator_input": one_of("scaled", "standardised"),
        "start": one_of("gaussian", "noise"),
        "start_transform": POWER_TRANSFORMS,
        "n_jobs": optional(NONZERO_INTEGER),
        "n_components": COMPONENTS,
    }

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
        max_seconds: float | None = None, budget_clock: str = "wall", n_threads: int | None = 1,
        missing_values: float = np.nan, round_integers: bool = True,
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
        self.max_seconds = max_seconds
        self.budget_clock = budget_clock
        self.n_threads = n_threads
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        budget = Budget(self.max_seconds, self.budget_clock)
        drop = drop_pair(self.drop_rate)
        self._fit_scaling(X)
        x, observed = self._scaled(X)
        self.start_fill_ = None
        if self.start == "gaussian":  # fitted first, from the same draws
            self.start_fill_ = MixtureForestImputer(
                power_transform=self.start_transform, n_components=self.n_components,
                n_folds=self.start_folds, forest_weight=self.start_blend,
                forest_trees=self.forest_trees, forest_max_columns=self.forest_max_columns,
                n_jobs=self.n_jobs, n_threads=self.n_threads, round_integers=False,
                random_state=rng,
            ).fit(X)
        self.input_transform_ = None
        if self.generator_input == "standardised" and self.start_fill_ is not None:
            fill = self.start_fill_
            self.input_transform_ = (
                (fill.lambdas_, fill.transform_mean_, fill.transform_std_)
                if fill.lambdas_ is not None
                else fit_yeo_johnson(x.double(), observed.double(), transform=False))
        self.generators_, self.history_, self.stop_steps_ = [], [], []
        gan_start = budget.fraction()  # the GANs share what the starting fill left
        for k in range(self.n_generators):
            seed = draw_seed(rng)
            first, share = (gan_start + (1 - gan_start) * (k + i) / self.n_generators
                            for i in (0, 1))
            with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
                torch.manual_seed(seed)
                held = self._held_out(observed)
                generator, history, stop = self._train_gan(
                    x, observed - held, held, drop,
                    lambda s=first + POOL_SHARE * (share - first): budget.over(s),
                    lambda s=share: budget.over(s))
            self.generators_.append(generator)
            self.stop_steps_.append(stop)
            self.history_ += [{"generator": k, **h} for h in history]

    def _held_out(self, observed: torch.Tensor) -> torch.Tensor:
        """The cells one GAN holds out: ``validation_fraction`` of the observed ones, at least
        one when that fraction is positive (and two cells are observed): on a tiny table
        the fraction alone often draws none, and the GAN could not stop early."""
        held = observed * (torch.rand_like(observed) < self.validation_fraction).float()
        if self.validation_fraction > 0 and not held.any() and observed.sum() >= 2:
            cell = torch.multinomial(observed.flatten(), 1)
            held.view(-1)[cell] = 1.0
        return held

    def _train_gan(
        self, x: torch.Tensor, observed: torch.Tensor, held: torch.Tensor,
        drop: tuple[float, float], pool_time_up: Callable[[], bool],
        out_of_time: Callable[[], bool],
    ) -> tuple[torch.nn.Module, list[dict], int]:
        """Train one GAN on the ``observed`` cells, stopping early on the ``held`` ones or
        when ``out_of_time()``; its pool of starting fills stops growing at ``pool_time_up()``.

        Returns the kept weight-averaged generator, the loss history and its step.
        """
        n, d = x.shape
        residual = self.start_fill_ is not None
        hidden = self.hidden_size or max(d, 64)
        generator = GainGenerator(d, hidden, self.depth)
        if residual:
            # the correction starts at exactly 0 (untrained, G returns the starting fill)
            # rather than at a random offset of about 0.1: better on the validation masks
            torch.nn.init.zeros_(generator.net[-1].weight)
            torch.nn.init.zeros_(generator.net[-1].bias)
        if self.input_transform_ is not None:
            generator = _StandardisedInput(generator, self.input_transform_)
        discriminator = GainDiscriminator(d, hidden, self.depth)
        averaged = EMA(generator, self.ema_decay)  # its decay warms up, see runtime.schedules.EMA
        opt_g = torch.optim.Adam(generator.parameters(), lr=self.learning_rate)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.learning_rate)
        pool = self._pool(x, observed, drop, pool_time_up) if residual else None
        checked = bool(held.any())
        x_check = self._train_start(x, observed, torch.arange(n)) if checked else None
        stopping = _EarlyStopping(self.n_iter_no_change)
        history = []
        if checked and residual:  # step 0 is a candidate: G's correction starts at 0
            score = self._held_out_mse(averaged.model, x, x_check, observed, held)
            stopping.keep(score, 0, averaged.model)
            history.append({"step": 0, "held_out_mse": score})

        def next_batch(_: int) -> dict[str, torch.Tensor]:
            if pool is None:
                rows = torch.randint(0, n, (self.batch_size,))
                rate = drop[0] + (drop[1] - drop[0]) * torch.rand(()).item()
                given = observed[rows] * (torch.rand(self.batch_size, d) >= rate).float()
                inputs = noise_fill(x[rows], given)
            else:  # precomputed (row, mask, starting fill) triples: the fills are costly
                pick = torch.randint(0, len(pool[0]), (self.batch_size,))
                rows, given, inputs = pool[0][pick], pool[1][pick], pool[2][pick]
            return {"inputs": inputs, "real": x[rows], "given": given, "target": x[rows],
                    "observed": observed[rows]}

        def after_step(step: int, losses: dict[str, float]) -> bool:
            averaged.update(step - 1)
            if step % 100 == 0 or step == self.n_iterations:
                history.append({"step": step, **losses})
            if not checked or (step % CHECK_EVERY and step != self.n_iterations):
                return False
            score = self._held_out_mse(averaged.model, x, x_check, observed, held)
            history.append({"step": step, "held_out_mse": score})
            return stopping.check(score, step, averaged.model)

        steps = train_gain(
            GainNetworks(generator, discriminator, opt_g, opt_d),
            GainLoss(self.hint_rate, gain_objective(self.alpha), residual=residual),
            next_batch, GainSchedule(self.n_iterations, stop_requested=out_of_time), after_step)
        if stopping.state is None:
            return averaged.model, history, steps
        averaged.model.load_state_dict(stopping.state)
        return averaged.model, history, stopping.step

    def _held_out_mse(
        self, generator: torch.nn.Module, x: torch.Tensor, x_check: torch.Tensor,
        observed: torch.Tensor, held: torch.Tensor,
    ) -> float:
        """Mean squared error of ``generator``'s filling on the ``held`` cells."""
        with torch.no_grad():
            filled = generate(generator, x_check, observed, self.start_fill_ is not None)
        return weighted_mean((filled - x) ** 2, held).item()

    def _pool(
        self, x: torch.Tensor, observed: torch.Tensor, drop: tuple[float, float],
        time_up: Callable[[], bool],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows, drop masks and the starting fill of each, drawn once per GAN.

        Up to ``POOL_ROWS`` (row, mask) pairs, each row with several masks: one
        batched fill per training step would cost more than the step itself. The fills
        are made ``POOL_BLOCK`` rows at a time (each row's fill is its own), and the pool
        stops at the block where ``time_up()`` (a time budget's share for it).
        """
        pool_rows = POOL_ROWS if self.start_fill_.fold_forests_ is None else BLEND_POOL_ROWS
        size = min(pool_rows, self.n_iterations * self.batch_size)
        rows = torch.randint(0, len(x), (size,))
        rate = drop[0] + (drop[1] - drop[0]) * torch.rand(size, 1)
        given = observed[rows] * (torch.rand(size, x.shape[1]) >= rate).float()
        fills = []
        for i in range(0, size, POOL_BLOCK):
            part = slice(i, i + POOL_BLOCK)
            fills.append(self._train_start(x[rows[part]], given[part], rows[part]))
            if time_up():
                break
        fills = torch.cat(fills)
        return rows[: len(fills)], given[: len(fills)], fills

    def _networks(self, n_columns: int) -> dict[str, list[torch.nn.Module]]:
        """Fresh generators shaped as ``fit`` builds them, into which a saved model's
        weights are loaded (``fashionlab.impute.saved_state``)."""
        hidden = self.hidden_size or max(n_columns, 64)
        generators = [GainGenerator(n_columns, hidden, self.depth)
                      for _ in range(self.n_generators)]
        if self.input_transform_ is not None:
            generators = [_StandardisedInput(g, self.input_transform_) for g in generators]
        return {"generators_": generators}

    # ------------------------------------------------------------------ fill

    def _train_start(self, x: torch.Tensor, given: torch.Tensor,
                     rows: torch.Tensor) -> torch.Tensor:
        """G's input on training rows ``rows``: the cross-fitted starting fill, or (``start=
        "noise"``) the mean of the training noise in the gaps."""
        if self.start_fill_ is None:
            return _noise_mean(x, given)
        return self.start_fill_.cross_fitted_fill(x, given, rows)

    def _starts(self, x: torch.Tensor, given: torch.Tensor) -> list[torch.Tensor]:
        """G's inputs when filling: each fold's starting fill (G corrects each, and the
        corrections are averaged), or the mean of the training noise in the gaps."""
        if self.start_fill_ is None:
            return [_noise_mean(x, given)]
        return self.start_fill_.fold_fills(x, given)

    def _fill_each(self, X: np.ndarray) -> list[np.ndarray]:
        """Each generator's values for every cell of ``X``, in the original units."""
        x, given = self._scaled(X)
        residual = self.start_fill_ is not None
        with torch.no_grad(), torch_threads(self.n_threads):
            starts = self._starts(x, given)
            each = [torch.stack([generate(g, x_in, given, residual) for x_in in starts]).mean(0)
                    for g in self.generators_]
        return [self._unscaled(e) for e in each]

    def _impute(self, X: np.ndarray) -> np.ndarray:
        return np.mean(self._fill_each(X), axis=0)
