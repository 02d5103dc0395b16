"""The classic prediction plot and the gallery of confident mistakes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from fashionlab.viz.common import save_figure
from fashionlab.viz.grids import save_captioned_grid

RIGHT, WRONG = "tab:blue", "tab:red"


def save_prediction_plot(
    images: torch.Tensor,
    probs: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    path: str | Path,
    columns: int = 3,
) -> Path:
    """Each image beside a bar chart of its class probabilities.

    Caption "Predicted NN% (True)" in blue when right, red when wrong; the
    predicted bar is red and the true bar blue (blue wins when they coincide).
    """
    n = len(images)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4.2 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, columns)
        image_ax, bar_ax = axes[r, 2 * c], axes[r, 2 * c + 1]
        p = probs[i].float().numpy()
        predicted, true = int(p.argmax()), int(labels[i])
        color = RIGHT if predicted == true else WRONG
        image_ax.imshow(images[i].numpy(), cmap="binary")
        image_ax.set_xlabel(
            f"{class_names[predicted]} {100 * p[predicted]:.0f}% ({class_names[true]})",
            color=color, fontsize=8,
        )
        image_ax.axis("on")
        image_ax.set_xticks([])
        image_ax.set_yticks([])
        bars = bar_ax.bar(range(len(p)), p, color="#777777")
        bars[predicted].set_color(WRONG)
        bars[true].set_color(RIGHT)
        bar_ax.axis("on")
        bar_ax.set_ylim(0, 1)
        bar_ax.set_xticks(range(len(p)))
        bar_ax.set_xticklabels(range(len(p)), fontsize=6)
        bar_ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path)


def confident_mistakes(probs: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` wrong predictions made with the highest confidence."""
    confidence, predicted = probs.max(1)
    wrong = torch.nonzero(predicted != labels).flatten()
    order = confidence[wrong].argsort(descending=True)
    return wrong[order[:k]]


def save_mistakes_gallery(
    images: torch.Tensor,
    probs: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    path: str | Path,
    k: int = 24,
) -> Path:
    """The most confident mistakes, captioned "predicted NN% / true"."""
    idx = confident_mistakes(probs, labels, k)
    confidence, predicted = probs.max(1)
    captions = [
        f"{class_names[int(predicted[i])]} {100 * float(confidence[i]):.0f}%\n"
        f"(true: {class_names[int(labels[i])]})"
        for i in idx
    ]
    if len(idx) == 0:  # a perfect classifier still gets a figure saying so
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        return save_figure(fig, path)
    return save_captioned_grid(
        images[idx], captions, path, columns=6, colors=[WRONG] * len(idx),
        title="Most confident mistakes",
    )


def save_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(class_names)))
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)))
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (r, c), count in np.ndenumerate(matrix):
        ax.text(c, r, int(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    ax.set_title(title or "Confusion matrix")
    return save_figure(fig, path)
