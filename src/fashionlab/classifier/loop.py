"""The classifier's training and evaluation loops: one optimisation step, an epoch of
steps (schedule, augmentation, weight average, time budget, Ctrl-C), the fast MLP's
epoch and the evaluation passes.

``fashionlab.classifier.train`` runs them for a run folder; the CAS metric
(``fashionlab.metrics.cas``) and ``benchmarks/classifier_speed.py`` reuse them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fashionlab.classifier.augment import tta_log_probs
from fashionlab.classifier.fast_mlp import FastMLPTrainer
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.runtime.budget import CLOCKS
from fashionlab.runtime.device import Distributed, all_reduce_sum, bf16_autocast
from fashionlab.runtime.schedules import lr_factor
from fashionlab.runtime.stop import StopRequest

if TYPE_CHECKING:
    from fashionlab.classifier.config import ClassifierConfig


def uses_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    label_smoothing: float = 0.0,
    bf16: bool = False,
) -> dict[str, torch.Tensor]:
    """One optimisation step; returns the summed loss and correct count (as tensors, no sync)."""
    with bf16_autocast(images.device, bf16):
        logits = model(images)  # (B, 10)
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        correct = (logits.argmax(1) == labels).sum()
    return {"loss_sum": loss.detach() * len(labels), "correct": correct}


@torch.inference_mode()
def evaluate_tensors(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    tta_flip: bool = False,
    bf16: bool = False,
    tta_shift: int = 0,
) -> dict[str, Any]:
    """Mean loss and accuracy of ``model`` on normalised images already on its device, and
    its class probabilities (``"probs"``, (N, classes) on the CPU).

    With ``tta_flip`` or ``tta_shift`` the prediction is the mean of the softmax over the
    views of ``tta_log_probs``; the loss is the negative log of that mean probability.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    probs = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        with bf16_autocast(images.device, bf16):
            logp = tta_log_probs(model, x, tta_flip, tta_shift, BACKGROUND)  # (B, 10)
        loss_sum += F.nll_loss(logp, y, reduction="sum")
        correct += (logp.argmax(1) == y).sum()
        probs.append(logp.exp().cpu())
    model.train(was_training)
    n = max(len(images), 1)
    return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n,
            "probs": torch.cat(probs) if probs else torch.empty(0, 0)}


def build_optimizer(model: nn.Module, config: ClassifierConfig) -> torch.optim.Optimizer:
    device_type = next(model.parameters()).device.type
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
            weight_decay=config.weight_decay,
        )
    fused = device_type in ("cpu", "cuda")  # one kernel for the whole update
    if config.weight_decay:
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused
        )
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused)


def epoch_data(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, ctx: Distributed
) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's shard of the training set in a fresh random order (one gather).

    Every process draws the same permutation from the shared generator and keeps every
    ``world_size``-th index from its rank, so shards never overlap.
    """
    order = torch.randperm(len(images), generator=generator)
    if ctx.enabled:
        usable = len(order) - len(order) % ctx.world_size
        order = order[ctx.rank : usable : ctx.world_size]
    order = order.to(images.device)
    return images[order], labels[order]


class EpochLoop:
    """The autograd training loop: schedule, augmentation, step, EMA, for every batch."""

    def __init__(self, config, model, optimizer, augment, generator, ema, bf16,
                 total_steps: int, warmup_steps: int):
        self.config, self.model, self.optimizer = config, model, optimizer
        self.augment, self.generator, self.ema, self.bf16 = augment, generator, ema, bf16
        self.total_steps, self.warmup_steps = total_steps, warmup_steps
        self.step = 0
        self.train_seconds = 0.0  # time spent in run_epoch on the budget's clock
        self.out_of_time = False
        self.cut_short = False  # the last epoch ended early (time budget or Ctrl-C)

    def schedule_step(self) -> int:
        """The step the schedule is at: the real one, or the clock's share of the budget."""
        budget = self.config.time_budget
        if not budget:
            return self.step
        return min(self.total_steps, int(self.train_seconds / budget * self.total_steps))

    def run_epoch(
        self, xs: torch.Tensor, ys: torch.Tensor, ctx: Distributed, desc: str,
        stop: StopRequest | None = None,
    ) -> dict[str, float]:
        """One pass over ``xs``; it ends early when the time budget is spent or ``stop``
        is requested (Ctrl-C)."""
        config = self.config
        self.model.train()
        self.cut_short = False
        totals = torch.zeros(3, device=xs.device)  # loss sum, correct, count
        starts = range(0, len(xs), config.batch_size)
        bar = tqdm(starts, desc=desc, leave=False, disable=not ctx.is_main, mininterval=0.5)
        clock = CLOCKS[config.budget_clock]
        begin, spent = clock(), self.train_seconds
        for i, start in enumerate(bar):
            self.train_seconds = spent + clock() - begin
            if config.time_budget and self.train_seconds >= config.time_budget:
                self.out_of_time = self.cut_short = True
                break
            if stop is not None and stop.requested:
                self.cut_short = True
                break
            x, y = xs[start : start + config.batch_size], ys[start : start + config.batch_size]
            if len(x) < 2 and len(xs) > 1:
                continue  # a batch of one breaks BatchNorm statistics
            factor = lr_factor(config.schedule, self.schedule_step(), self.total_steps,
                               self.warmup_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = config.lr * factor
            if self.augment.active:
                x = self.augment(x, self.generator)
            out = train_step(self.model, self.optimizer, x, y, config.label_smoothing, self.bf16)
            if self.ema is not None:
                self.ema.update(self.step)
            self.step += 1
            totals[0] += out["loss_sum"]
            totals[1] += out["correct"]
            totals[2] += len(y)
            if i % 200 == 0 and ctx.is_main:
                loss, correct, count = totals.tolist()
                bar.set_postfix(loss=f"{loss / count:.4f}", acc=f"{correct / count:.4f}",
                                refresh=False)
        self.train_seconds = spent + clock() - begin
        if config.time_budget and self.train_seconds >= config.time_budget:
            self.out_of_time = True
        all_reduce_sum(totals, ctx)
        loss, correct, count = totals.tolist()
        images = int(count)
        count = max(count, 1)
        return {"loss": loss / count, "accuracy": correct / count, "images": images}


def fast_mlp_epoch(
    trainer: FastMLPTrainer, images: torch.Tensor, labels: torch.Tensor, order: torch.Tensor,
    batch_size: int, desc: str, batches_per_gather: int = 16, stop: StopRequest | None = None,
) -> dict[str, float]:
    """One epoch of the hand-written MLP step over ``images[order]``, batch by batch
    (``stop``, when requested, ends it after the batches gathered so far).

    The images of ``batches_per_gather`` batches are gathered at once into the trainer's
    input rows (one call instead of sixteen; a whole-epoch gather costs more, as it no
    longer fits in the cache); metrics are computed once at the end from every batch's
    logits (taken before its update, as a Keras progress bar shows).
    """
    flat = images.flatten(1)  # (N, 784), a view
    order = order.to(flat.device)  # index_select wants its index on the data's device
    ys = labels[order]
    logits = torch.empty(len(order), trainer.model.head.out_features, device=flat.device)
    chunk = batch_size * batches_per_gather
    rows = trainer.input_rows(min(chunk, len(order)))
    bar = tqdm(total=len(order), desc=desc, leave=False, mininterval=0.5)
    done = 0  # images trained on
    for first in range(0, len(order), chunk):
        if stop is not None and stop.requested:
            break
        n = min(chunk, len(order) - first)
        torch.index_select(flat, 0, order[first : first + n], out=rows[:n, :-1])
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            trainer.step_rows(rows[start:end], ys[first + start : first + end],
                              logits[first + start : first + end])
        bar.update(n)
        done += n
    bar.close()
    trainer.sync()
    logits, ys = logits[:done], ys[:done]
    loss = F.cross_entropy(logits, ys).item() if done else 0.0
    accuracy = (logits.argmax(1) == ys).float().mean().item() if done else 0.0
    return {"loss": loss, "accuracy": accuracy, "images": done}
