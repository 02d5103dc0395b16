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
on its own: nothing crosses a window edge.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from fashionlab.impute.base import register_imputer
from fashionlab.impute.gain_training import (
    GainLoss,
    GainNetworks,
    GainSchedule,
    train_gain,
    weighted_mean,
)
from fashionlab.impute.progress import bar, tick
from fashionlab.impute.timeseries import _TimeSeriesImputer, interpolate3
from fashionlab.impute.window_networks import WindowDiscriminator, WindowGenerator


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
        A training time budget: the learning rate then follows the warm-up and cosine
        decay over whichever runs out first, the epochs or this wall time, and training
        stops when it is spent (so the result depends on the machine's speed; leave it
        None for runs that repeat exactly).
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
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.missing_values = missing_values
        self.round_integers = round_integers

    # ------------------------------------------------------------ fit
    def _fit_series(self, X: np.ndarray, rng: np.random.Generator) -> None:
        torch.manual_seed(int(rng.integers(2**31)))
        device = torch.device(self.device)
        with np.errstate(all="ignore"):
            std = np.nanstd(X, axis=0)
        self.mean_ = self.statistics_
        self.std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        Z = (X - self.mean_) / self.std_
        n_rows, n_columns = Z.shape
        length = min(self.window, n_rows)
        networks = self._networks(n_columns)
        self.generator_, self.discriminator_ = (net.to(device) for net in networks.values())
        opt_g = torch.optim.AdamW(self.generator_.parameters(), lr=self.lr, weight_decay=1e-4)
        opt_d = torch.optim.AdamW(self.discriminator_.parameters(), lr=self.lr, weight_decay=1e-4)
        steps_per_epoch = max(1, math.ceil(n_rows / length / self.batch_size))
        total = self.epochs * steps_per_epoch
        self.history_ = []
        start = time.perf_counter()
        sums: dict[str, float] = {}

        def lr_factor(step: int) -> float | None:
            progress = step / total
            if self.max_seconds is not None:
                progress = max(progress, (time.perf_counter() - start) / self.max_seconds)
                if progress >= 1:
                    return None  # the time budget is spent
            return _warmup_cosine(progress)

        def end_epoch(epoch: int) -> None:
            sums.update(epoch=epoch, seconds=round(time.perf_counter() - start, 2))
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
            return self.max_seconds is not None and (
                time.perf_counter() - start >= self.max_seconds)

        self.generator_.train()
        self.discriminator_.train()
        with bar(total, "window-gain training", "step"):
            steps = train_gain(
                GainNetworks(self.generator_, self.discriminator_, opt_g, opt_d),
                GainLoss(self.hint_rate, self._objective, clip_norm=1.0, d_name="loss_d"),
                lambda _: _training_batch(Z, length, self.batch_size, self.hide_rate, rng,
                                          device),
                GainSchedule(total, lr_factor=lr_factor), after_step)
        if sums:  # the time budget ran out inside an epoch: its part, averaged as a whole
            end_epoch(steps // steps_per_epoch + 1)
        self.generator_.eval()
        self.discriminator_.eval()

    def _networks(self, n_columns: int) -> dict[str, torch.nn.Module]:
        """New networks for ``n_columns`` columns, by attribute name (``fit`` trains them; a
        saved model loads its weights into them)."""
        return {
            "generator_": WindowGenerator(n_columns, self.window, self.d_model, self.n_layers,
                                          self.n_heads, self.dropout),
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
    def _fill(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean_) / self.std_
        n_rows = Z.shape[0]
        out = np.empty_like(Z)
        starts = list(range(0, n_rows, self.window))
        full = [s for s in starts if s + self.window <= n_rows]
        device = torch.device(self.device)
        if full:
            windows = np.stack([Z[s : s + self.window] for s in full])
            imputed = self._impute_windows(windows, device)
            for s, w in zip(full, imputed, strict=True):
                out[s : s + self.window] = w
        for s in starts[len(full) :]:  # a shorter last window, on its own
            out[s:] = self._impute_windows(Z[None, s:], device)[0]
        return out * self.std_ + self.mean_

    @torch.no_grad()
    def _impute_windows(self, windows: np.ndarray, device: torch.device) -> np.ndarray:
        """``(W, T, C)`` standardised with NaN -> generator output (W, T, C)."""
        results = []
        for i in range(0, len(windows), 256):
            chunk = windows[i : i + 256]
            mask = ~np.isnan(chunk)
            filled = np.nan_to_num(interpolate3(chunk))  # 0 = the training mean
            x = torch.as_tensor(filled, dtype=torch.float32, device=device)
            m = torch.as_tensor(mask, dtype=torch.float32, device=device)
            results.append(self.generator_(x, m).cpu().numpy().astype(np.float64))
        return np.concatenate(results)


def _warmup_cosine(progress: float, warm: float = 0.05) -> float:
    """Learning-rate factor at ``progress`` in [0, 1]: linear warm-up, then cosine to 0."""
    if progress < warm:
        return max(progress / warm, 0.01)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warm) / (1 - warm))))


def _training_batch(Z, length, batch_size, hide_rate, rng, device) -> dict[str, torch.Tensor]:
    """Random windows, some observed cells hidden on purpose, interpolated inside each window."""
    starts = rng.integers(0, Z.shape[0] - length + 1, size=batch_size)
    crops = Z[starts[:, None] + np.arange(length)]  # (B, T, C)
    observed = ~np.isnan(crops)
    hidden = observed & (rng.random(crops.shape) < hide_rate)
    shown = observed & ~hidden
    filled = np.nan_to_num(interpolate3(np.where(shown, crops, np.nan)))

    def tensor(a):
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    filled = tensor(filled)
    return {
        "inputs": filled,
        "real": filled,
        "given": tensor(shown),
        "target": tensor(np.nan_to_num(crops)),
        "hidden": tensor(hidden),
    }


