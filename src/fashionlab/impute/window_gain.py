"""``WindowGainImputer``: a GAIN-style GAN on windows of consecutive hours across all stations.

Training (``fit``) draws random windows of ``window`` rows from the training rows, hides a
further ``hide_rate`` of their observed cells, fills the window by linear interpolation
in time (inside the window only) and lets the generator correct it. The generator loss
is

    L1 on the cells hidden on purpose (the imputation task itself)
  + observed_weight   * L1 on the cells it was shown (GAIN's reconstruction loss)
  + adversarial_weight * GAIN's adversarial loss (fool the discriminator on imputed cells)

and the discriminator, given the imputed window and GAIN's hint (the true mask for a
``hint_rate`` share of cells, 0.5 elsewhere), learns per cell whether it was observed.
``transform`` cuts the rows into consecutive windows of ``window`` rows and imputes each
on its own: nothing crosses a window edge. With ``shifts=k`` it does so on k grids of
windows, offset by ``window / k`` rows from each other, and averages them: a gap that one
grid cuts at a window's edge lies inside a window of another, so each fill sees the hours on
both sides of its gap (and the average of k fills is steadier than one). A row's fill then
depends on the ``window - 1`` rows around it (``context_rows``), which chunked ``apply``
and Dask lend it.

Long gaps (``start="nearest-station"``, ``hide_pattern="gaps"``): the practice for a
station outage is to fill it from the best correlated nearby station
(:class:`~fashionlab.impute.timeseries.NearestStationImputer`). With that start the
generator is also given the nearest-station fill of the window (donors and their lines
fitted on the training rows only, so nothing of a filled file enters the model) and each
cell's distance in time to the nearest observation, and learns a per-cell blend of the
two starts plus a correction. ``hide_pattern="gaps"`` trains it on gaps shaped like real
ones: single cells, runs in one column and whole-station outages, up to a whole window.
A table whose columns do not form stations of ``n_variables`` starts from the
interpolation alone, as with ``start="interpolate"``.

Long gaps in any table (``start="gaussian"``): the second start is instead each row's
conditional mean under one normal law of all the columns (fitted on up to
``GAUSSIAN_ROWS`` training rows, :class:`~fashionlab.impute.mixture_forest.
MixtureForestImputer` with one component and no forests): a gap is filled from every
column observed in its hour, other stations and other variables alike, and the
generator learns when to trust it over the interpolation. It needs no station layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import number_in, one_of, optional, register_imputer, whole
from fashionlab.impute.gain_training import (
    GainLoss,
    GainNetworks,
    GainSchedule,
    train_gain,
    weighted_mean,
)
from fashionlab.impute.mixture_forest import MixtureForestImputer
from fashionlab.impute.progress import bar, tick
from fashionlab.impute.timeseries import (
    _neighbours,
    _TimeSeriesImputer,
    by_windows,
    donor_arrays,
    donor_fill,
    interpolate3,
    rank_donors,
)
from fashionlab.impute.window_networks import WindowDiscriminator, WindowGenerator
from fashionlab.runtime.budget import CLOCKS, Budget


@register_imputer("window-gain")
class WindowGainImputer(_TimeSeriesImputer):
    """Multi-station time-series GAN imputer (GAIN with hint, on windows of hours).

    Parameters
    ----------
    window : int, default=24
        Rows per window, in training and in ``transform``.
    d_model, n_layers, n_heads, dropout : generator transformer size.
    disc_hidden : int, default=128
        Channels of the convolutional discriminator.
    epochs : int, default=40
        Training epochs; one epoch draws ``n_rows / window`` random windows.
    batch_size : int, default=64
    lr : float, default=1e-3
        Peak AdamW learning rate (linear warm-up, cosine decay) of both networks.
    hide_rate : float, default=0.2
        Share of observed training cells hidden on purpose in each window.
    hint_rate : float, default=0.9
        GAIN's hint: share of cells whose true mask the discriminator is told.
    adversarial_weight : float, default=0.05
        Weight of the adversarial term in the generator loss.
    observed_weight : float, default=0.5
        Weight of the reconstruction of the shown cells in the generator loss.
    max_seconds : float or None, default=None
        A time budget for ``fit``, the second start's fit included: the learning rate
        then follows the warm-up and cosine decay over whichever runs out first, the
        epochs or this time, and training
        stops when it is spent (so the result depends on the machine's speed; leave it
        None for runs that repeat exactly).
    budget_clock : {"wall", "cpu"}, default="wall"
        What ``max_seconds`` counts: wall time, or this process's CPU time (fair between
        methods on a shared machine).
    start : {"interpolate", "nearest-station", "gaussian"}, default="interpolate"
        The generator's starting fill: linear interpolation inside the window, or that
        plus the nearest-station fill, or plus each row's conditional mean under one
        normal law of all the columns (see the module docstring); a table without
        stations of ``n_variables`` columns starts from the interpolation with
        ``"nearest-station"``.
    n_variables : int, default=11
        Variables per station for ``start="nearest-station"`` (station-major columns).
    hide_pattern : {"random", "gaps"}, default="random"
        The cells hidden on purpose in training: single cells at ``hide_rate``, or
        ``"gaps"``: single cells, runs in one column and whole-station outages.
    shifts : int, default=1
        Grids of windows ``transform`` averages, offset by ``window / shifts`` rows (see
        the module docstring); 1 is consecutive windows, as in training. At most ``window``.
    random_state : int or None, default=None
    device : str, default="cpu"
    verbose : bool, default=False
    missing_values : float, default=np.nan
    round_integers : bool, default=True
        Round the filled cells of columns whose observed values are all whole numbers.

    Attributes
    ----------
    mean_, std_ : per-column statistics of the observed training values (the model works in
        standardised units).
    start_ : str, the start used ("nearest-station" only when the columns form stations).
    start_fill_ : MixtureForestImputer or None, the one-normal fill of ``start="gaussian"``
        (standardised units).
    donor_index_, donor_intercept_, donor_slope_ : (columns, 3) arrays, the nearest-station
        donors in standardised units (index -1: none); None with the interpolation start.
    generator_, discriminator_ : the trained networks.
    history_ : list of dicts, one per epoch (losses, seconds).
    """

    def __init__(
        self,
        *,
        window: int = 24,
        d_model: int = 128,
        n_layers: int = 2,
        n_heads: int = 4,
        dropout: float = 0.1,
        disc_hidden: int = 128,
        epochs: int = 40,
        batch_size: int = 64,
        lr: float = 1e-3,
        hide_rate: float = 0.2,
        hint_rate: float = 0.9,
        adversarial_weight: float = 0.05,
        observed_weight: float = 0.5,
        max_seconds: float | None = None,
        budget_clock: str = "wall",
        start: str = "interpolate",
        n_variables: int = 11,
        hide_pattern: str = "random",
        shifts: int = 1,
        random_state: int | None = None,
        device: str = "cpu",
        verbose: bool = False,
        missing_values: float = np.nan,
        round_integers: bool = True,
    ) -> None:
        self.window = window
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.disc_hidden = disc_hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.hide_rate = hide_rate
        self.hint_rate = hint_rate
        self.adversarial_weight = adversarial_weight
        self.observed_weight = observed_weight
        self.max_seconds = max_seconds
        self.budget_clock = budget_clock
        self.start = start
        self.n_variables = n_variables
        self.hide_pattern = hide_pattern
        self.shifts = shifts
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.missing_values = missing_values
        self.round_integers = round_integers

    _parameter_rules = {
        "budget_clock": one_of(*CLOCKS),
        "start": one_of("interpolate", "nearest-station", "gaussian"),
        "n_variables": whole(1),
        "hide_pattern": one_of("random", "gaps"),
        "shifts": whole(1),
        "hide_rate": number_in(0, 1, closed=False),
        "max_seconds": optional(number_in(0, np.inf)),
    }

    # ------------------------------------------------------------ fit
    def _fit_series(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self._check_shifts()  # before training, not after
        budget = Budget(self.max_seconds, self.budget_clock)  # the start's fit counts too
        torch.manual_seed(int(rng.integers(2**31)))
        device = torch.device(self.device)
        with np.errstate(all="ignore"):
            std = np.nanstd(X, axis=0)
        self.mean_ = self.statistics_
        self.std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        Z = (X - self.mean_) / self.std_
        self._fit_start(Z, rng)
        n_rows, n_columns = Z.shape
        length = min(self.window, n_rows)
        networks = self._networks(n_columns)
        self.generator_, self.discriminator_ = (net.to(device) for net in networks.values())
        opt_g = torch.optim.AdamW(self.generator_.parameters(), lr=self.lr, weight_decay=1e-4)
        opt_d = torch.optim.AdamW(self.discriminator_.parameters(), lr=self.lr, weight_decay=1e-4)
        steps_per_epoch = max(1, math.ceil(n_rows / length / self.batch_size))
        total = self.epochs * steps_per_epoch
        self.history_ = []
        sums: dict[str, float] = {}

        def lr_factor(step: int) -> float | None:
            progress = max(step / total, budget.fraction())
            if budget.over():
                return None  # the time budget is spent
            return _warmup_cosine(progress)

        def end_epoch(epoch: int) -> None:
            sums.update(epoch=epoch, seconds=round(budget.spent(), 2))
            self.history_.append(dict(sums))
            if self.verbose:
                print(" ".join(f"{k}={v:.4g}" for k, v in sums.items()), flush=True)
            sums.clear()

        def after_step(step: int, logs: dict[str, float]) -> bool:
            tick()
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value / steps_per_epoch
            if step % steps_per_epoch:
                return False
            end_epoch(step // steps_per_epoch)
            return budget.over()

        self.generator_.train()
        self.discriminator_.train()
        with bar(total, "window-gain training", "step"):
            steps = train_gain(
                GainNetworks(self.generator_, self.discriminator_, opt_g, opt_d),
                GainLoss(self.hint_rate, self._objective, clip_norm=1.0, d_name="loss_d"),
                lambda _: self._training_batch(Z, length, rng, device),
                GainSchedule(total, lr_factor=lr_factor), after_step)
        if sums:  # the time budget ran out inside an epoch: its part, averaged as a whole
            end_epoch(steps // steps_per_epoch + 1)
        self.generator_.eval()
        self.discriminator_.eval()

    def _fit_start(self, Z: np.ndarray, rng: np.random.Generator) -> None:
        """The second start's model, from the training rows (standardised): the one-normal
        fill, or the nearest-station donors of every column."""
        self.start_ = "interpolate"
        self.donor_index_ = self.donor_intercept_ = self.donor_slope_ = self.start_fill_ = None
        if self.start == "gaussian":
            rows = np.sort(rng.choice(len(Z), min(len(Z), GAUSSIAN_ROWS), replace=False))
            if np.isnan(Z[rows]).all(axis=0).any():
                rows = np.arange(len(Z))  # a column the sample misses: every row
            self.start_fill_ = MixtureForestImputer(
                n_components=1, n_folds=0, forest_weight=0.0, round_integers=False,
                random_state=int(rng.integers(2**31))).fit(Z[rows])
            self.start_ = "gaussian"
            return
        if self.start != "nearest-station" or Z.shape[1] < 2 * self.n_variables:
            return
        try:
            donors = rank_donors(Z, self.n_variables, N_DONORS, min_overlap=24)
        except FashionlabError:
            return  # the columns are not stations of n_variables: today's start
        if any(donors):
            self.start_ = "nearest-station"
            self.donor_index_, self.donor_intercept_, self.donor_slope_ = donor_arrays(
                donors, N_DONORS)

    def _inputs(self, shown: np.ndarray) -> np.ndarray:
        """The generator's input for windows ``(B, T, C)`` (NaN = not shown): the
        interpolation (0, the training mean, where a column has no observation), and with
        a second start also that start's fill and the distance to the nearest observation
        in time (in windows), side by side: ``(B, T, C)`` or ``(B, T, 3C)``."""
        interp = np.nan_to_num(interpolate3(shown))
        start = getattr(self, "start_", "interpolate")
        if start == "interpolate":
            return interp
        if start == "gaussian":
            second = self._gaussian_fill(shown, interp)
        else:
            second = donor_fill(shown, self.donor_index_, self.donor_intercept_,
                                self.donor_slope_)
        second = np.where(np.isnan(second), interp, second)
        t, prev_idx, next_idx, _, _ = _neighbours(shown)
        n_steps = shown.shape[1]
        distance = np.minimum(np.where(prev_idx >= 0, t - prev_idx, n_steps),
                              np.where(next_idx < n_steps, next_idx - t, n_steps))
        return np.concatenate([interp, second, distance / n_steps], axis=-1)

    def _gaussian_fill(self, shown: np.ndarray, interp: np.ndarray) -> np.ndarray:
        """Each row's conditional mean given its shown cells (a row with none: ``interp``)."""
        flat = shown.reshape(-1, shown.shape[2])
        some = ~np.isnan(flat).all(axis=1)
        out = interp.reshape(flat.shape).copy()
        if some.any():
            out[some] = self.start_fill_.transform(flat[some])
        return out.reshape(shown.shape)

    def _hidden(self, observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observed cells of windows ``(B, T, C)`` to hide on purpose (``hide_pattern``)."""
        if self.hide_pattern == "random":
            return observed & (rng.random(observed.shape) < self.hide_rate)
        n_windows, n_steps, n_columns = observed.shape
        rate = self.hide_rate / 3  # each of the three shapes hides about a third
        hidden = rng.random(observed.shape) < rate
        hidden |= _runs(rng, (n_windows, n_columns), n_steps, rate * 2)
        groups = self.n_variables if n_columns % self.n_variables == 0 else n_columns
        stations = _runs(rng, (n_windows, n_columns // groups), n_steps, rate * 2)
        hidden |= np.repeat(stations, groups, axis=2)
        return observed & hidden

    def _training_batch(self, Z, length, rng, device) -> dict[str, torch.Tensor]:
        """Random windows, some observed cells hidden on purpose, and the generator's input."""
        starts = rng.integers(0, Z.shape[0] - length + 1, size=self.batch_size)
        crops = Z[starts[:, None] + np.arange(length)]  # (B, T, C)
        observed = ~np.isnan(crops)
        hidden = self._hidden(observed, rng)
        shown = observed & ~hidden
        inputs = self._inputs(np.where(shown, crops, np.nan))

        def tensor(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        return {
            "inputs": tensor(inputs),
            "real": tensor(inputs[..., : crops.shape[2]]),
            "given": tensor(shown),
            "target": tensor(np.nan_to_num(crops)),
            "hidden": tensor(hidden),
        }

    def _networks(self, n_columns: int) -> dict[str, torch.nn.Module]:
        """New networks for ``n_columns`` columns, by attribute name (``fit`` trains them; a
        saved model loads its weights into them)."""
        n_starts = 1 if getattr(self, "start_", "interpolate") == "interpolate" else 2
        return {
            "generator_": WindowGenerator(n_columns, self.window, self.d_model, self.n_layers,
                                          self.n_heads, self.dropout, n_starts),
            "discriminator_": WindowDiscriminator(n_columns, self.disc_hidden),
        }

    def _objective(self, fake, fooled, judged, batch):
        """The generator's loss: impute the hidden cells, keep the shown ones, and pass the
        imputed cells as observed (the adversarial term is scored on every gap)."""
        rec_hidden = weighted_mean(torch.abs(fake - batch["target"]), batch["hidden"])
        rec_shown = weighted_mean(torch.abs(fake - batch["target"]), batch["given"])
        adv = weighted_mean(fooled, 1 - batch["given"])
        loss = rec_hidden + self.observed_weight * rec_shown + self.adversarial_weight * adv
        return loss, {"rec_hidden": rec_hidden, "rec_shown": rec_shown, "adv": adv}

    # ------------------------------------------------------------ transform
    def _check_shifts(self) -> None:
        if self.shifts > self.window:
            raise FashionlabError(f"shifts must be at most the window ({self.window} rows), "
                                  f"got {self.shifts}")

    def context_rows(self) -> int:
        """Rows around a window of the first grid whose values its fills read: ``window - 1``
        on each side with shifted grids, else none."""
        return self.window - 1 if self.shifts > 1 else 0

    def _fill(self, X: np.ndarray) -> np.ndarray:
        self._check_shifts()
        Z = (X - self.mean_) / self.std_
        grids = []
        for k in range(self.shifts):  # grid k's windows start `offset` rows earlier
            offset = k * self.window // self.shifts
            padded = np.concatenate([np.full((offset, Z.shape[1]), np.nan), Z])
            grids.append(self._fill_grid(padded)[offset:])
        return np.mean(grids, axis=0) * self.std_ + self.mean_

    def _fill_grid(self, Z: np.ndarray) -> np.ndarray:
        """Standardised ``Z`` filled window by window, windows from its first row."""
        device = torch.device(self.device)
        return by_windows(Z, self.window, lambda windows: self._impute_windows(windows, device))

    @torch.no_grad()
    def _impute_windows(self, windows: np.ndarray, device: torch.device) -> np.ndarray:
        """``(W, T, C)`` standardised with NaN -> generator output (W, T, C)."""
        results = []
        for i in range(0, len(windows), 256):
            chunk = windows[i : i + 256]
            mask = ~np.isnan(chunk)
            x = torch.as_tensor(self._inputs(chunk), dtype=torch.float32, device=device)
            m = torch.as_tensor(mask, dtype=torch.float32, device=device)
            results.append(self.generator_(x, m).cpu().numpy().astype(np.float64))
        return np.concatenate(results)


N_DONORS = 3  # nearest-station donors tried per column, best correlated first
GAUSSIAN_ROWS = 4000  # training rows of the one-normal start (its cost: rows x columns^2)


def _warmup_cosine(progress: float, warm: float = 0.05) -> float:
    """Learning-rate factor at ``progress`` in [0, 1]: linear warm-up, then cosine to 0."""
    if progress < warm:
        return max(progress / warm, 0.01)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / (1 - warm))))


def _runs(rng: np.random.Generator, shape: tuple[int, int], n_steps: int,
          rate: float) -> np.ndarray:
    """``(B, T, K)`` runs: each of the ``shape`` (window, series) pairs, with probability
    ``rate``, gets one run of 1..T steps at a random place; a quarter of them span the window."""
    n_windows, n_series = shape
    length = np.where(rng.random(shape) < 0.25, n_steps, rng.integers(1, n_steps + 1, shape))
    first = rng.integers(0, n_steps, shape) - rng.integers(0, length)
    t = np.arange(n_steps)[None, :, None]
    inside = (t >= first[:, None, :]) & (t < (first + length)[:, None, :])
    return inside & (rng.random(shape) < rate)[:, None, :]
