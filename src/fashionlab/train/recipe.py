"""Training-recipe pieces shared by the classifier trainer: learning-rate schedules and EMA."""

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


class EMA:
    """An exponential moving average of a model's weights, kept in a copy of the model.

    Every ``every`` steps: ``avg = avg + (1 - decay**every) * (weights - avg)``; buffers
    (BatchNorm statistics) are copied. The decay ramps up as ``(1 + n) / (10 + n)`` over the
    first updates so that early, random weights are forgotten quickly.
    """

    def __init__(self, model: nn.Module, decay: float, every: int = 1):
        self.decay = decay
        self.every = every
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._source = model
        self._avg = [p for p in self.model.parameters()]
        self._src = [p for p in model.parameters()]
        self.updates = 0

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Call after optimisation ``step`` (0-based); averages every ``every`` steps."""
        if (step + 1) % self.every:
            return
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates)) ** self.every
        src = [p.detach().to(a.dtype) for a, p in zip(self._avg, self._src, strict=True)]
        torch._foreach_lerp_(self._avg, src, 1.0 - decay)
        for mine, theirs in zip(self.model.buffers(), self._source.buffers(), strict=True):
            mine.copy_(theirs)
