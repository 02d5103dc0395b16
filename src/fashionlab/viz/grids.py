"""Image grids: samples with captions, plain tiled grids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from fashionlab.viz.common import save_figure

CAPTIONED_MAX = 100  # images in one captioned grid: beyond, a figure takes minutes to lay out


def save_captioned_grid(
    images: torch.Tensor,
    captions: Sequence[str],
    path: str | Path,
    columns: int = 8,
    colors: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """uint8 images (N, 28, 28) in a grid, each with its caption underneath; a cell whose
    caption is None stays empty (padding, see ``pair_cells``)."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.75 * rows), squeeze=False,
                             layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n and captions[i] is not None:
            ax.imshow(images[i].numpy(), cmap="gray", vmin=0, vmax=255)
            color = colors[i] if colors is not None else "black"
            ax.set_title(captions[i], fontsize=8, y=-0.22, color=color)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def pair_cells(
    first: torch.Tensor, second: torch.Tensor, first_captions: Sequence[str],
    second_captions: Sequence[str], columns: int,
) -> tuple[torch.Tensor, list[str | None]]:
    """Cells for ``save_captioned_grid`` (with ``columns``) that show pairs as columns: each
    ``columns`` pairs are a row of ``first`` images over a row of their ``second`` images;
    empty cells pad the last row."""
    images, captions = [], []
    blank = torch.zeros(columns, *first.shape[1:], dtype=first.dtype)
    for start in range(0, len(first), columns):
        pad = columns - len(first[start : start + columns])
        for part, text in ((first, first_captions), (second, second_captions)):
            images += [part[start : start + columns], blank[:pad]]
            captions += [*text[start : start + columns], *[None] * pad]
    if not images:
        return first[:0], []
    return torch.cat(images), captions


def save_sample_grid(
    images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], path: str | Path,
    columns: int = 8,
) -> Path:
    """The notebook's first look at the data: images with their class names."""
    captions = [class_names[int(label)] for label in labels]
    return save_captioned_grid(images, captions, path, columns)


def tile(images: torch.Tensor, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 images (N, H, W) -> one uint8 array with the images tiled, black padding."""
    n, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad), dtype=np.uint8)
    for i, img in enumerate(images.numpy()):
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = img
    return canvas
