"""GAIN: Generative Adversarial Imputation Nets (Yoon, Jordon & van der Schaar, ICML 2018).

A generator G sees a row with its gaps filled with small noise plus the mask of
given cells, and proposes a value for every cell. A discriminator D sees the
completed row and a *hint* (the mask, with each cell revealed with probability
``hint_rate`` and set to 0.5 otherwise) and guesses, for each unrevealed cell,
whether it was given or filled. G is trained to fool D on the filled cells and
to reproduce the given cells (weight ``alpha``).

One addition, ``drop_rate``: during training a further fraction of the
observed cells is hidden from G, and G is also asked to reconstruct those. The
original GAIN only ever learns to fill cells that are really missing, for which
it has no target; hiding known cells gives it one, and lets it learn from a
table with no missing value at all. ``drop_rate=0`` is the original GAIN.

The networks are in :mod:`fashionlab.models.imputers`; this module holds the
training step (shared with image inpainting) and :class:`GainImputer`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from fashionlab.impute.base import BaseImputer, register_imputer
from fashionlab.models.imputers import GainDiscriminator, GainGenerator

NOISE = 0.01  # gaps are filled with U(0, NOISE) noise in training, as in GAIN's code


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
) -> dict[str, float]:
    """One discriminator and one generator update on a batch; any tensor shape works.

    Args:
        x: values scaled to [0, 1], anything (e.g. 0) where not observed.
        observed: 1.0 where ``x`` holds a true value.
        given: 1.0 where the value is shown to the generator (a subset of ``observed``).
        hint_rate: probability that the hint reveals a cell's mask value to D.
        alpha: weight of the reconstruction loss on observed cells against the adversarial loss.
    """
    x_in = given * x + (1 - given) * NOISE * torch.rand_like(x)
    revealed = (torch.rand_like(x) < hint_rate).float()
    hint = given * revealed + 0.5 * (1 - revealed)
    judged = 1 - revealed  # D is scored only where the hint does not give the answer away

    with torch.no_grad():
        fake = generator(x_in, given)
    d_logits = discriminator(given * x + (1 - given) * fake, hint)
    d_loss = _weighted_mean(
        F.binary_cross_entropy_with_logits(d_logits, given, reduction="none"), judged
    )
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    fake = generator(x_in, given)
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


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` PyTorch CPU threads (None = leave as is), restoring the setting after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


@register_imputer("gain")
class GainImputer(BaseImputer):
    """Fill missing cells with a GAIN generator trained on the data given to ``fit``.

    Each column is scaled to [0, 1] with the minimum and maximum of its observed
    values (so columns of any scale weigh the same), and the generator's output
    is scaled back; filled values therefore stay inside each column's observed
    range. ``transform`` is deterministic: gaps are fed the mean of the training
    noise, so a row's filling does not depend on the other rows.

    Parameters
    ----------
    n_iterations : int, default=4000
        Training steps (one discriminator and one generator update each).
    batch_size : int, default=128
        Rows per step, drawn with replacement.
    hidden_size : int or None, default=None
        Width of the hidden layers; None means ``max(n_features, 64)``.
    depth : int, default=2
        Hidden layers in the generator and in the discriminator.
    hint_rate : float, default=0.9
        Probability that the hint reveals a cell's mask value to the discriminator.
    alpha : float, default=100.0
        Weight of the reconstruction loss against the adversarial loss.
    drop_rate : float, default=0.2
        Fraction of observed cells hidden from the generator at each step, which
        it must reconstruct (0 = the original GAIN; see the module docstring).
    learning_rate : float, default=1e-3
        Adam learning rate of both networks.
    lr_decay : bool, default=False
        Decay the learning rate to 0 along a cosine over the training steps
        (off by default: it scored worse on validation masks of small tables).
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
    generator_ : GainGenerator
        The trained generator (in eval mode).
    low_ : ndarray of shape (n_features,)
        Observed minimum of each column.
    span_ : ndarray of shape (n_features,)
        Observed range of each column (1 where the column is constant).
    history_ : list of dict
        Losses every 100 steps (``step``, ``d_loss``, ``adv_loss``, ``rec_loss``).
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
        self, *, n_iterations: int = 4000, batch_size: int = 128, hidden_size: int | None = None,
        depth: int = 2, hint_rate: float = 0.9, alpha: float = 100.0, drop_rate: float = 0.2,
        learning_rate: float = 1e-3, lr_decay: bool = False, n_threads: int | None = 1,
        missing_values: float = np.nan, round_integers: bool = True, random_state=None,
    ):
        self.n_iterations = n_iterations
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.depth = depth
        self.hint_rate = hint_rate
        self.alpha = alpha
        self.drop_rate = drop_rate
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.n_threads = n_threads
        self.missing_values = missing_values
        self.round_integers = round_integers
        self.random_state = random_state

    def _check_params(self) -> None:
        if not (isinstance(self.n_iterations, int | np.integer) and self.n_iterations >= 1):
            raise ValueError(f"n_iterations must be a positive integer, got {self.n_iterations!r}")
        if not (isinstance(self.batch_size, int | np.integer) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not 0 <= self.drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        if not 0 <= self.hint_rate <= 1:
            raise ValueError(f"hint_rate must be in [0, 1], got {self.hint_rate!r}")

    def _fit(self, X: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        n, d = X.shape
        self.low_ = np.nanmin(X, axis=0)
        span = np.nanmax(X, axis=0) - self.low_
        self.span_ = np.where(span > 0, span, 1.0)
        x, observed = self._scaled(X)
        hidden = self.hidden_size or max(d, 64)
        seed = int(rng.integers(0, 2**31 - 1))
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(seed)
            generator = GainGenerator(d, hidden, self.depth)
            discriminator = GainDiscriminator(d, hidden, self.depth)
            opt_g = torch.optim.Adam(generator.parameters(), lr=self.learning_rate)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.learning_rate)
            # cosine decay of the learning rate to 0: the last steps average out batch noise
            schedules = [
                torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.n_iterations)
                for opt in (opt_g, opt_d)
            ] if self.lr_decay else []
            self.history_ = []
            for step in range(1, self.n_iterations + 1):
                rows = torch.randint(0, n, (self.batch_size,))
                xb, ob = x[rows], observed[rows]
                given = ob * (torch.rand_like(ob) >= self.drop_rate).float()
                losses = gain_train_step(
                    generator, discriminator, opt_g, opt_d, xb, ob, given,
                    self.hint_rate, self.alpha,
                )
                for schedule in schedules:
                    schedule.step()
                if step % 100 == 0 or step == self.n_iterations:
                    self.history_.append({"step": step, **losses})
        self.generator_ = generator.eval()

    def _impute(self, X: np.ndarray) -> np.ndarray:
        x, given = self._scaled(X)
        with torch.no_grad(), torch_threads(self.n_threads):
            x_in = given * x + (1 - given) * (NOISE / 2)
            filled = self.generator_(x_in, given).double().numpy()
        return filled * self.span_ + self.low_

    def _scaled(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(values scaled to [0, 1] with 0 in the gaps, observed mask) as float32 tensors."""
        observed = ~np.isnan(X)
        scaled = np.where(observed, (X - self.low_) / self.span_, 0.0)
        return torch.from_numpy(scaled.astype(np.float32)), torch.from_numpy(
            observed.astype(np.float32)
        )
