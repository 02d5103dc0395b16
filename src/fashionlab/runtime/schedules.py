"""Learning-rate schedules and weight averages (EMA), shared by every trainer."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

SCHEDULES = ("constant", "cosine", "onecycle")

def lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak learning rate at optimisation ``step`` (0-based) of ``total``.

    ``constant``: 1 after an optional linear warmup. ``cosine``: linear warmup, then a
    cosine decay to 0. ``onecycle``: linear warmup from 0.1, then a linear decay to 0
    (the triangular schedule of fast CIFAR-10 training).
    """
    if warmup > 0 and step < warmup:
        start = 0.1 if schedule == "onecycle" else 0.0
        return start + (1 - start) * (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "onecycle":
        return 1.0 - progress
    raise ValueError(f"unknown schedule {schedule!r}")


def ema_rate(decay: float, count: int | None = None, every: int = 1) -> float:
    """The weight of the new weights in one EMA update covering ``every`` steps.

    ``avg = avg + rate * (weights - avg)`` with ``rate = 1 - d**every``. With ``count``
    (updates or steps so far) ``d`` warms up as ``min(decay, (1 + count) / (10 + count))``,
    so that early, random weights are forgotten quickly instead of being dragged along for
    thousands of steps.
    """
    if count is not None:
        decay = min(decay, (1 + count) / (10 + count))
    return 1.0 - decay**every


@torch.no_grad()
def average_into(average: nn.Module, current: nn.Module, rate: float) -> None:
    """One EMA update with weight ``rate`` (see ``ema_rate``): ``average``'s parameters
    move toward ``current``'s; buffers (BatchNorm statistics) are copied."""
    avg = list(average.parameters())
    src = [p.detach().to(a.dtype) for a, p in zip(avg, current.parameters(), strict=True)]
    torch._foreach_lerp_(avg, src, rate)
    for mine, theirs in zip(average.buffers(), current.buffers(), strict=True):
        mine.copy_(theirs)


class EMA:
    """An exponential moving average of a model's weights, kept in a copy of the model.

    Every ``every`` steps, one update whose warm-up count is the number of updates so far.
    The averaged model is ``self.model`` (in eval mode). ``due`` counts the updates and
    gives their weight, so that a trainer holding its weights elsewhere (the fast MLP
    step) follows the same rule.
    """

    def __init__(self, model: nn.Module, decay: float, every: int = 1):
        self.decay = decay
        self.every = every
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._source = model
        self.updates = 0

    def due(self, step: int) -> float | None:
        """After optimisation ``step`` (0-based): the weight of the update due now (and
        count it), or None when none is due."""
        if (step + 1) % self.every:
            return None
        self.updates += 1
        return ema_rate(self.decay, self.updates, self.every)

    def update(self, step: int) -> None:
        """Call after optimisation ``step`` (0-based); averages every ``every`` steps."""
        rate = self.due(step)
        if rate is not None:
            average_into(self.model, self._source, rate)
