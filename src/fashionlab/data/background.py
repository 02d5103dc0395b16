"""A photo's background made flat before the garment is cut out of it.

A shop photo's background is rarely one colour: light falls off across it, or a backdrop
shades from one tone into another. The conversion takes one background level off the
garment (``fashionlab.data.user_images``), so a background that changes across the photo
would be left as a faint ramp beside the garment, which no Fashion-MNIST image has.
``flatten_background`` fits a plane (a colour that changes linearly from side to side
and from top to bottom) to the photo's outer pixels and takes it off.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

DETECT_SIDE = 160  # the background is measured on a copy this small


def flatten_background(rgb: Image.Image, tolerance: float) -> Image.Image:
    """The "RGB" picture with its background made flat: the plane fitted (least squares,
    per channel) to the outer pixels of a small copy that lie within ``tolerance`` (a
    fraction of the largest RGB distance) of their median colour is taken off, and that
    median put back. The picture itself when the plane changes by less than one level
    across it, or when too few outer pixels are background to fit one."""
    small = rgb.copy()
    small.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float64)
    height, width = pixels.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    u, v = (xs + 0.5) / width, (ys + 0.5) / height  # (H, W) pixel centres, 0-1
    outer = np.zeros((height, width), dtype=bool)
    outer[[0, -1]] = True
    outer[:, [0, -1]] = True
    colours = pixels[outer]
    median = np.median(colours, axis=0)
    # The garment may reach the edge: its pixels are left out of the fit.
    near = np.sqrt(((colours - median) ** 2).sum(1) / 3) <= tolerance * 255
    if near.sum() < 8:
        return rgb
    design = np.stack([np.ones(near.sum()), u[outer][near], v[outer][near]], 1)
    coefficients = np.linalg.lstsq(design, colours[near], rcond=None)[0]  # (3, channels)
    plane = coefficients[0] + u[..., None] * coefficients[1] + v[..., None] * coefficients[2]
    shift = plane - median  # (H, W, 3)
    if np.abs(shift).max() < 1:
        return rgb
    # The shift around 128 as a picture, scaled up to the photo's size, taken off:
    # ImageChops.subtract computes a - b + offset, clipped to 0-255.
    shift_picture = Image.fromarray(np.clip(np.round(shift + 128), 0, 255).astype(np.uint8),
                                    "RGB").resize(rgb.size, Image.Resampling.BILINEAR)
    return ImageChops.subtract(rgb, shift_picture, 1.0, 128)
