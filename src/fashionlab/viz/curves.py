"""Training curves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from fashionlab.viz.common import save_figure


def save_training_curves(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Loss and accuracy per epoch, train against validation (when there was a validation
    split: a run with ``n_val=0`` logs NaN there and gets the training curves alone)."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "accuracy", "accuracy")):
        ax.plot(epochs, [row[key] for row in history], "o-", label="train", markersize=3)
        val = [row.get(f"val_{key}", math.nan) for row in history]
        if not all(math.isnan(v) for v in val):
            ax.plot(epochs, val, "o-", label="validation", markersize=3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Training curves")
    return save_figure(fig, path)


def save_loss_curves(
    series: dict[str, Sequence[float]], path: str | Path, xlabel: str = "epoch",
    title: str = "Losses",
) -> Path:
    """Several named loss series on one plot (for example generator and discriminator)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)
