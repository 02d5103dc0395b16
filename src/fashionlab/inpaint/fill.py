"""``fashionlab fill``: a trained inpainting run fills a region of the user's own pictures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from fashionlab.data.user_images import fit_mask, image_files, load_mask, load_user_images
from fashionlab.errors import FashionlabError
from fashionlab.inpaint.train import (
    MAX_FILL,
    InpaintConfig,
    build_models,
    fill,
    inpaint_figure,
    precision,
)
from fashionlab.runtime.device import torch_threads
from fashionlab.runtime.files import prepare_output_file
from fashionlab.runtime.runs import config_from, load_state, read_config, read_weights


def load_inpainter(run_dir: str | Path) -> tuple[torch.nn.Module, InpaintConfig]:
    """The trained generator of a ``fashionlab inpaint`` run folder (eval mode), and the
    run's config; a run of another kind, or weights that do not fit the config, are
    clear errors."""
    stored = read_config(run_dir, "inpaint")
    config = config_from(InpaintConfig, stored, str(Path(run_dir) / "config.json"))
    config.validate()
    generator, _ = build_models(config)
    load_state(generator, read_weights(run_dir), str(run_dir))
    return generator.eval(), config


def box_mask(box: Sequence[int]) -> torch.Tensor:
    """A mask (1, 1, 28, 28), 1 = visible, with the box ``(top, left, height, width)`` of the
    28x28 picture removed; a box that is empty or leaves the picture is an error."""
    if len(box) != 4 or not all(isinstance(v, int) for v in box):
        raise FashionlabError(f"a box is four whole numbers TOP,LEFT,HEIGHT,WIDTH, got {box}")
    top, left, height, width = box
    if height < 1 or width < 1 or top < 0 or left < 0 or top + height > 28 or left + width > 28:
        raise FashionlabError(
            f"the box TOP,LEFT,HEIGHT,WIDTH = {top},{left},{height},{width} must lie inside the "
            "28x28 picture the model sees (top + height and left + width at most 28)")
    mask = torch.ones(1, 1, 28, 28)
    mask[..., top : top + height, left : left + width] = 0
    return mask


def fill_pictures(run_dir: str | Path, paths: Sequence[str | Path], box: Sequence[int] | None,
                  out: str | Path, mask: str | Path | None = None) -> dict:
    """Fill a region of each of the user's pictures with the run's generator, and save a
    figure: each picture as the model sees it (28x28 grey, like ``fashionlab predict``),
    with the region in red, and filled.

    The region is the box ``box`` (top, left, height, width; default: the run's box size,
    centred), or the light pixels of the picture ``mask`` (the size of the pictures, or
    28x28). A file that is not a usable picture, or not of the mask's size, is left out,
    with the reason in ``"errors"``; with no usable picture, no figure is written
    (``"figure"`` is None)."""
    paths = image_files(list(paths))
    if len(paths) > MAX_FILL:
        raise FashionlabError(f"{len(paths)} pictures: give at most {MAX_FILL}, the columns of "
                              "one figure")
    if box is not None and mask is not None:
        raise FashionlabError("give a box or a mask, not both")
    generator, config = load_inpainter(run_dir)
    if mask is None and box is None:
        size = config.box_size if config.mask == "box" else InpaintConfig.box_size
        box = ((28 - size) // 2, (28 - size) // 2, size, size)
    region = box_mask(box) if mask is None else None
    drawn = load_mask(mask) if mask is not None else None
    out = prepare_output_file(Path(out).expanduser())
    if out.suffix.lower() != ".png":
        raise FashionlabError(f"--out must end in .png, got {out.name!r}")
    records, pictures = load_user_images(paths)
    usable = iter(pictures)
    kept, masks = [], []
    for record in records:
        if "error" in record:
            continue
        picture = next(usable)
        if drawn is not None:
            size = picture.placement.source
            removed = fit_mask(*drawn, picture.placement)
            if removed is None:
                record["error"] = (f"{record['file']} is {size[0]}x{size[1]} pixels and the "
                                   f"mask {mask} {drawn[1][0]}x{drawn[1][1]}: a mask has the "
                                   "size of the pictures, or 28x28")
                continue
            if not removed.any():
                raise FashionlabError(f"the mask {mask} marks no pixel of the 28x28 picture "
                                      "the model sees: paint the region to fill in white")
            region = torch.from_numpy(~removed).float()[None, None]
        kept.append(picture.image)
        masks.append(region)
    done: dict = {"files": [r["file"] for r in records if "error" not in r],
                  "errors": [r for r in records if "error" in r],
                  "box": None if box is None else list(box),
                  "mask": None if mask is None else str(mask),
                  "model": config.model, "figure": None}
    if kept:
        images = torch.stack(kept).float().div(255)[:, None]
        masks = torch.cat(masks)
        with torch_threads(config.threads or None), precision(config):
            filled = fill(generator, images, masks).float()
        if box is not None:
            top, left, height, width = box
            title = f"your pictures, a {height}x{width} box at row {top}, column {left} removed"
        else:
            title = f"your pictures, the light pixels of {Path(mask).name} removed"
        done["figure"] = str(inpaint_figure(images, masks, filled, None, out, config, title))
    return done
