"""Data augmentation on whole batches of tensors (no per-sample Python), on any device.

Every training augmentation takes normalised images (B, C, H, W) and a ``torch.Generator``
on the same device, and returns a new tensor; the input is never modified. At test time,
``tta_log_probs`` averages a model over mirrored and shifted copies of the images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def random_crop(
    images: torch.Tensor, padding: int, generator: torch.Generator, fill: float = 0.0
) -> torch.Tensor:
    """Pad each image by ``padding`` pixels of ``fill`` and cut a random HxW window from it."""
    if padding <= 0:
        return images
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4, value=fill)  # (B, C, H+2p, W+2p)
    dev = images.device
    dy = torch.randint(0, 2 * padding + 1, (b, 1, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b, 1, 1), device=dev, generator=generator)
    rows = dy + torch.arange(h, device=dev).view(1, h, 1)  # (B, H, 1)
    cols = dx + torch.arange(w, device=dev).view(1, 1, w)  # (B, 1, W)
    batch = torch.arange(b, device=dev).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=_format_of(images))


def random_flip(images: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    flip = torch.rand(len(images), device=images.device, generator=generator) < p
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def random_erasing(
    images: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.5,
    area: tuple[float, float] = (0.02, 0.25),
    aspect: tuple[float, float] = (0.3, 3.3),
    fill: float = 0.0,
) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with probability ``p`` blank one random rectangle.

    The rectangle covers a fraction ``area`` of the image with aspect ratio in ``aspect``
    (log-uniform) and is filled with ``fill`` (0 = the data mean after normalisation).
    """
    if p <= 0:
        return images
    b, _, h, w = images.shape
    dev = images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, device=dev, generator=generator)

    target = uniform(*area) * h * w
    ratio = torch.exp(uniform(torch.log(torch.tensor(aspect[0])).item(),
                              torch.log(torch.tensor(aspect[1])).item()))
    eh = (target * ratio).sqrt().round().clamp(1, h)
    ew = (target / ratio).sqrt().round().clamp(1, w)
    y0 = (uniform(0, 1) * (h - eh + 1)).floor()
    x0 = (uniform(0, 1) * (w - ew + 1)).floor()
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (rows >= y0.view(b, 1, 1)) & (rows < (y0 + eh).view(b, 1, 1))
        & (cols >= x0.view(b, 1, 1)) & (cols < (x0 + ew).view(b, 1, 1))
    )  # (B, H, W)
    apply = torch.rand(b, device=dev, generator=generator) < p
    mask = (inside & apply.view(b, 1, 1)).unsqueeze(1)  # (B, 1, H, W)
    return images.masked_fill(mask, fill)


@dataclass(frozen=True)
class Augment:
    """A batch augmentation pipeline: crop with padding, then flip, then erasing."""

    crop_padding: int = 0  # pixels of padding for random crops; 0 = no crops
    flip: bool = False  # random left-right mirroring
    erasing: float = 0.0  # probability of random erasing per image; 0 = off
    fill: float = 0.0  # value of padding and erased pixels (the background after normalising)

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip or self.erasing > 0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = random_crop(images, self.crop_padding, generator, self.fill)
        if self.flip:
            out = random_flip(out, generator)
        return random_erasing(out, generator, self.erasing, fill=self.fill)


def _format_of(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1:
        return torch.channels_last
    return torch.contiguous_format


def tta_views(images: torch.Tensor, flip: bool = False, shift: int = 0,
              fill: float = 0.0) -> list[torch.Tensor]:
    """The views of ``images`` (B, C, H, W) that test-time averaging scores: the images,
    their mirror images when ``flip``, and both moved by every offset of up to ``shift``
    pixels in each direction (the uncovered border filled with ``fill``, as ``random_crop``
    pads), so ``(2 shift + 1)^2`` positions."""
    if shift < 0:
        raise ValueError(f"shift cannot be negative, got {shift}")
    height, width = images.shape[-2:]
    padded = torch.nn.functional.pad(images, (shift,) * 4, value=fill) if shift else images
    views = []
    for dy in range(2 * shift + 1):
        for dx in range(2 * shift + 1):
            view = padded[..., dy : dy + height, dx : dx + width]
            views += [view, view.flip(3)] if flip else [view]
    return views


def tta_log_probs(model: nn.Module, images: torch.Tensor, flip: bool = False, shift: int = 0,
                  fill: float = 0.0) -> torch.Tensor:
    """Log of ``model``'s softmax averaged over the ``tta_views`` of ``images`` (B, C, H,
    W). Returns (B, classes) float32."""
    log_probs = [model(view).float().log_softmax(1)
                 for view in tta_views(images, flip, shift, fill)]
    if len(log_probs) == 1:
        return log_probs[0]
    return torch.logsumexp(torch.stack(log_probs), 0) - math.log(len(log_probs))
