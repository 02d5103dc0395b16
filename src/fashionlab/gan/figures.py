"""GAN figures: the per-epoch grid of the fixed noise batch and the progress GIF."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from fashionlab.data import CLASS_NAMES, from_tanh_range
from fashionlab.runtime.files import atomic_write_bytes
from fashionlab.viz.grids import tile

SAMPLES_DIR = "samples"
_EPOCH_PNG = re.compile(r"epoch_(\d+)\.png$")


def grid_image(
    images: torch.Tensor, columns: int, row_names: Sequence[str] | None = None,
    scale: int = 3, caption: str | None = None,
) -> Image.Image:
    """uint8 images (N, 28, 28) tiled ``columns`` wide, scaled up, with optional row names."""
    canvas = Image.fromarray(tile(images, columns))
    canvas = canvas.resize((canvas.width * scale, canvas.height * scale),
                           Image.Resampling.NEAREST).convert("L")
    left = 80 if row_names else 0
    top = 14 if caption else 0
    framed = Image.new("L", (canvas.width + left, canvas.height + top), 255)
    framed.paste(canvas, (left, top))
    draw = ImageDraw.Draw(framed)
    if caption:
        draw.text((left + 2, 1), caption, fill=0)
    if row_names:
        cell = canvas.height / math.ceil(len(images) / columns)
        for r, name in enumerate(row_names):
            draw.text((2, top + int(r * cell + cell / 2) - 5), name[:13], fill=0)
    return framed


def save_png(image: Image.Image, path: str | Path) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def save_epoch_grid(fakes: torch.Tensor, run, epoch: int, conditional: bool,
                    per_row: int) -> Path:
    """The fixed noise batch after ``epoch`` (0 = untrained) as figures/samples/epoch_NNN.png.

    ``fakes`` are generator outputs (N, 1, 28, 28) on [-1, 1]; a conditional model
    gets one row per class, named.
    """
    images = from_tanh_range(fakes.detach().cpu())[:, 0]  # (N, 28, 28) uint8
    folder = run.figure(SAMPLES_DIR)
    folder.mkdir(exist_ok=True)
    if conditional:
        columns, names = per_row, list(CLASS_NAMES[: math.ceil(len(images) / per_row)])
    else:
        columns, names = math.ceil(math.sqrt(len(images))), None
    image = grid_image(images, columns, names, caption=f"epoch {epoch}")
    return save_png(image, folder / f"epoch_{epoch:03d}.png")


def _numbered_frames(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(epoch, path) of each per-epoch sample PNG of a run, in epoch order."""
    folder = Path(run_dir) / "figures" / SAMPLES_DIR
    return sorted((int(m.group(1)), p) for p in folder.glob("epoch_*.png")
                  if (m := _EPOCH_PNG.search(p.name)))


def epoch_frames(run_dir: str | Path) -> list[Path]:
    """The per-epoch sample PNGs of a run, in epoch order."""
    return [path for _, path in _numbered_frames(run_dir)]


def drop_frames_after(run_dir: str | Path, epoch: int) -> None:
    """Remove the per-epoch sample PNGs of the epochs after ``epoch`` (a run resumed from
    that epoch's checkpoint trains them again)."""
    for number, path in _numbered_frames(run_dir):
        if number > epoch:
            path.unlink()


def save_progress_gif(run, duration_ms: int = 200) -> Path | None:
    """An animated GIF of every per-epoch grid (the last frame held longer)."""
    frames = []
    for path in epoch_frames(run.path):
        with Image.open(path) as img:
            frames.append(img.convert("L").copy())
    if not frames:
        return None
    durations = [duration_ms] * (len(frames) - 1) + [max(1000, duration_ms)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)
    path = run.figure("progress.gif")
    atomic_write_bytes(path, buffer.getvalue())
    return path

