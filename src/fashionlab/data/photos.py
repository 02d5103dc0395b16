"""Shop-style photos rendered from Fashion-MNIST images, to measure how a classifier fares
on pictures like the ones people take (``benchmarks/photo_accuracy.py``).

A Fashion-MNIST image is a light garment on black; its intensity is read as how much of
the garment covers each pixel. A photo puts a garment of a random dark colour on a light
background (white, grey, tinted, a gradient or noise), or a light garment on a dark one,
at a random scale and position (margins), turned by a small angle, on a canvas of 150-600
pixels a side, saved as PNG or as a JPEG of random quality. Everything comes from one
seeded generator, so a seed gives the same photos on every machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

BACKGROUNDS = ("white", "grey", "tinted", "gradient", "noise", "dark")


@dataclass(frozen=True)
class PhotoStyle:
    """The random ranges the photos are drawn from."""

    backgrounds: tuple[str, ...] = BACKGROUNDS  # one drawn per photo, uniformly
    sides: tuple[int, int] = (150, 600)  # the canvas' longer side, in pixels
    aspect: tuple[float, float] = (0.75, 1.0)  # shorter side / longer side
    fill: tuple[float, float] = (0.5, 0.9)  # the garment's frame / the canvas' shorter side
    angle: float = 6.0  # rotation drawn from [-angle, angle] degrees
    jpeg: float = 0.7  # share of photos saved as JPEG (the others as PNG)
    quality: tuple[int, int] = (60, 95)  # JPEG quality range


@dataclass(frozen=True)
class Photo:
    """One rendered photo: the encoded file and how it was drawn."""

    data: bytes
    suffix: str  # ".jpg" or ".png"
    background: str
    size: tuple[int, int]


def render_photo(image: np.ndarray, rng: np.random.Generator,
                 style: PhotoStyle = PhotoStyle()) -> Photo:
    """A shop-style photo of the uint8 (28, 28) Fashion-MNIST ``image``."""
    kind = style.backgrounds[rng.integers(len(style.backgrounds))]
    long_side = int(rng.integers(style.sides[0], style.sides[1] + 1))
    short_side = int(long_side * rng.uniform(*style.aspect))
    width, height = (long_side, short_side) if rng.random() < 0.3 else (short_side, long_side)
    canvas = _background(kind, width, height, rng)
    frame = max(28, int(min(width, height) * rng.uniform(*style.fill)))
    coverage = Image.fromarray(image).resize((frame, frame), Image.Resampling.BICUBIC)
    coverage = coverage.rotate(rng.uniform(-style.angle, style.angle),
                               Image.Resampling.BICUBIC, expand=True)
    left = int(rng.integers(0, max(1, width - coverage.width + 1)))
    top = int(rng.integers(0, max(1, height - coverage.height + 1)))
    dark = kind == "dark"
    colour = rng.integers(170, 256, 3) if dark else rng.integers(0, 90, 3)
    garment = Image.new("RGB", coverage.size, tuple(int(c) for c in colour))
    canvas.paste(garment, (left, top), coverage)  # coverage as the alpha of the garment
    buffer = io.BytesIO()
    if rng.random() < style.jpeg:
        canvas.save(buffer, "JPEG", quality=int(rng.integers(*style.quality)))
        suffix = ".jpg"
    else:
        canvas.save(buffer, "PNG")
        suffix = ".png"
    return Photo(buffer.getvalue(), suffix, kind, (width, height))


def _background(kind: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """An RGB canvas of the background ``kind``."""
    if kind == "white":
        level = int(rng.integers(240, 256))
        return Image.new("RGB", (width, height), (level,) * 3)
    if kind == "grey":
        level = int(rng.integers(175, 235))
        return Image.new("RGB", (width, height), (level,) * 3)
    if kind == "tinted":
        return Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(190, 250, 3)))
    if kind == "dark":
        return Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(10, 70, 3)))
    if kind == "gradient":  # a light gradient in a random direction, up to 20 levels across
        start = rng.integers(215, 246, 3).astype(np.float32)
        end = np.clip(start + rng.uniform(-20, 20, 3), 0, 255)
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xs / width * np.cos(angle) + ys / height * np.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        pixels = start + t[..., None] * (end - start)
        return Image.fromarray(pixels.round().astype(np.uint8), "RGB")
    if kind == "noise":  # a light level with grain of standard deviation 2-6 levels
        base = rng.integers(200, 250, 3).astype(np.float32)
        grain = rng.normal(0, rng.uniform(2, 6), (height, width, 1)).astype(np.float32)
        pixels = np.clip(base + grain, 0, 255)
        return Image.fromarray(pixels.round().astype(np.uint8), "RGB")
    raise ValueError(f"unknown background {kind!r}; choose one of: {', '.join(BACKGROUNDS)}")
