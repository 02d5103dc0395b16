"""One GAIN training loop, for tables, windows of hours and pictures.

GAIN (Yoon, Jordon & van der Schaar, ICML 2018): a generator G proposes a value for every
cell from the cells it is given and its mask; a discriminator D sees the batch completed
with G's values and a *hint* (the mask, with each cell revealed with probability
``hint_rate`` and set to 0.5 otherwise) and guesses, for each unrevealed cell, whether it
was given or filled. :func:`gain_train_step` is one D update and one G update on a batch;
:func:`train_gain` repeats it under a :class:`GainSchedule`. What differs between the users
is passed in, not copied:

* the batch (``next_batch``): table rows, windows of hours or pictures, with their masks
  and G's input (gaps prefilled by noise, a starting fill or interpolation);
* G's objective (:class:`GainLoss`): GAIN's (:func:`gain_objective`: fool D on the gaps
  the hint hides, plus ``alpha`` times the squared error on the observed cells), or the
  window imputer's L1 terms;
* the schedule: a fixed number of steps, a learning-rate factor set before each step
  (warm-up and cosine, a time budget), torch schedulers stepped after each, a stop request
  (Ctrl-C), and a callback that sees each step's numbers and may end training (early
  stopping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

NOISE = 0.01  # GAIN's input: gaps filled with U(0, NOISE) noise, as in GAIN's code

Batch = dict[str, torch.Tensor]
"""``inputs`` (G's input), ``real`` (the values D sees in given cells) and ``given`` (1.0
where a value is shown to G and D), all of one shape, plus what the objective reads."""

Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Batch],
                     tuple[torch.Tensor, dict[str, torch.Tensor]]]
"""G's loss: ``(fake, fooled, judged, batch) -> (loss, named terms to report)``, with
``fake`` G's values for every cell, ``fooled`` D's per-cell loss for calling each cell
given, and ``judged`` 1.0 where the hint hides the mask from D."""


@dataclass
class GainNetworks:
    """The generator, the discriminator and their optimizers."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


@dataclass
class GainLoss:
    """How one step scores the networks."""

    hint_rate: float  # probability that the hint reveals a cell's mask value to D
    objective: Objective  # G's loss, see ``Objective``
    residual: bool = False  # G's output is a correction of its input (see ``generate``)
    clip_norm: float | None = None  # G's gradients clipped to this norm (None: not clipped)
    d_name: str = "d_loss"  # the name D's loss is reported under


@dataclass
class GainSchedule:
    """How many steps, at which learning rates, until when."""

    steps: int  # most steps
    # before step i (0-based): the factor of each optimizer's initial learning rate, or
    # None to end training (a time budget); None: the rates are left alone
    lr_factor: Callable[[int], float | None] | None = None
    schedulers: Sequence[torch.optim.lr_scheduler.LRScheduler] = ()  # stepped after each step
    stop_requested: Callable[[], bool] = lambda: False  # checked before each step


def noise_fill(x: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """GAIN's generator input: ``x`` where given, small uniform noise in the gaps."""
    return given * x + (1 - given) * NOISE * torch.rand_like(x)


def generate(
    generator: torch.nn.Module, x_in: torch.Tensor, given: torch.Tensor, residual: bool
) -> torch.Tensor:
    """The generator's values for every cell; ``residual``: ``x_in`` plus a correction.

    The generator ends in a sigmoid, so ``2 G - 1`` is a correction in (-1, 1)
    (about 0 at initialisation); the corrected value is clipped to [0, 1].
    """
    out = generator(x_in, given)
    return (x_in + 2 * out - 1).clamp(0, 1) if residual else out


def weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the cells where ``weight`` is 1 (0 when there are none)."""
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def gain_objective(alpha: float) -> Objective:
    """GAIN's generator loss: fool D on the gaps the hint hides, plus ``alpha`` times the
    squared error on the batch's ``observed`` cells against its ``target`` values (the
    cells hidden from G on purpose included: that gives G a target where it fills)."""

    def objective(fake, fooled, judged, batch):
        adv_loss = weighted_mean(fooled, (1 - batch["given"]) * judged)
        rec_loss = weighted_mean((fake - batch["target"]) ** 2, batch["observed"])
        return adv_loss + alpha * rec_loss, {"adv_loss": adv_loss, "rec_loss": rec_loss}

    return objective


def gain_train_step(nets: GainNetworks, batch: Batch, loss: GainLoss) -> dict[str, float]:
    """One discriminator and one generator update on ``batch``; any tensor shape works.

    G runs once: D learns on its detached values, then G learns from D's updated verdict
    and ``loss.objective``. Returns D's loss and the objective's terms.
    """
    given = batch["given"]
    fake = generate(nets.generator, batch["inputs"], given, loss.residual)
    revealed = (torch.rand_like(given) < loss.hint_rate).float()
    hint = given * revealed + 0.5 * (1 - revealed)
    judged = 1 - revealed  # D is scored only where the hint does not give the answer away
    completed = given * batch["real"] + (1 - given) * fake

    d_logits = nets.discriminator(completed.detach(), hint)
    d_loss = weighted_mean(
        F.binary_cross_entropy_with_logits(d_logits, given, reduction="none"), judged)
    nets.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    nets.opt_d.step()

    d_logits = nets.discriminator(completed, hint)
    fooled = F.binary_cross_entropy_with_logits(
        d_logits, torch.ones_like(d_logits), reduction="none")
    g_loss, terms = loss.objective(fake, fooled, judged, batch)
    nets.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    if loss.clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(nets.generator.parameters(), loss.clip_norm)
    nets.opt_g.step()
    return {loss.d_name: d_loss.item(), **{name: t.item() for name, t in terms.items()}}


def train_gain(
    nets: GainNetworks,
    loss: GainLoss,
    next_batch: Callable[[int], Batch],
    schedule: GainSchedule,
    after_step: Callable[[int, dict[str, float]], bool | None] | None = None,
    precision: Callable[[], AbstractContextManager] = nullcontext,
) -> int:
    """Train with :func:`gain_train_step` under ``schedule``; returns the steps done.

    ``next_batch(i)`` draws step ``i``'s batch (0-based); ``after_step(steps done, the
    step's numbers)`` may log them, average the weights or score a check, and ends training
    by returning True. ``precision()`` is entered around each step (autocast).
    """
    optimizers = (nets.opt_g, nets.opt_d)
    initial = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
    done = 0
    while done < schedule.steps and not schedule.stop_requested():
        if schedule.lr_factor is not None:
            factor = schedule.lr_factor(done)
            if factor is None:
                break
            for opt, rates in zip(optimizers, initial, strict=True):
                for group, rate in zip(opt.param_groups, rates, strict=True):
                    group["lr"] = rate * factor
        batch = next_batch(done)
        with precision():
            numbers = gain_train_step(nets, batch, loss)
        done += 1
        for scheduler in schedule.schedulers:
            scheduler.step()
        if after_step is not None and after_step(done, numbers):
            break
    return done
