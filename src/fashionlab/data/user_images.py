"""Turn a user's own picture (a photo, a scan, a sketch) into a Fashion-MNIST 28x28 image.

Fashion-MNIST was made from Zalando's product photos by a published conversion (the
dataset's README): trim the edges close to the corner pixels' colour (5% distance),
resize the longest edge to 28, sharpen, extend the shorter edge to 28 centred, negate
the intensities, convert to 8-bit grey. ``convert_picture`` follows it, with what a
photo that is not on pure white needs besides:

* with ``Conversion(flatten=True)``, a background that changes across the picture (a
  gradient, uneven light) is made flat first (``fashionlab.data.background``);
* the background colour is the median of the picture's outer pixels rather than one
  corner's, and the trimming looks at a median-filtered copy, so a light gradient,
  noise or JPEG speckles around the garment are trimmed too;
* a garment turned by a few degrees is turned back upright first (the turn that gives it
  the smallest box: ``fashionlab.data.deskew``), as the dataset's garments are;
* the picture is negated only when that background is light: a garment photographed on
  a dark background is already light on dark;
* the background is brought to black and the garment's brightest pixel to 255 (as in
  99% of the dataset's images), so a grey or tinted background, or a grey garment, gives
  the contrast the models were trained on.

Pictures of more than 8 bits a pixel (16-bit PNGs, integer or float TIFFs) have their own
range of values stretched onto 0-255 first; transparent pixels count as background; a
picture of one flat grey level, or with nothing that stands out from its background, is
refused, and so is one larger than ``MAX_PIXELS``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from fashionlab.data.background import DETECT_SIDE, flatten_background
from fashionlab.data.deskew import upright_angle
from fashionlab.errors import FashionlabError

MAX_PIXELS = 64_000_000  # larger pictures (8000x8000) are refused before they are decoded
SIDE = 28
TURN_SIDE = 8 * SIDE  # a part of a picture is turned upright at most this large
PEAK_PERCENTILE = 99.5  # the garment's "brightest" level, robust to a few speckles
# What a folder given to ``fashionlab predict`` contributes: its files with these suffixes.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
RESAMPLING = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
              "lanczos": Image.Resampling.LANCZOS}


@dataclass(frozen=True)
class Conversion:
    """Settings of ``convert_picture``. The defaults were chosen on photos rendered from
    validation images (``benchmarks/photo_accuracy.py --choose``, docs/photos.md)."""

    trim_distance: float = 0.05  # the dataset's: trim what lies within 5% of the largest
    # RGB distance of the background colour
    resample: str = "lanczos"  # longest edge -> 28: lanczos | box (area average) | nearest
    # (the dataset's "subsampling", which aliases the noise of a large photo)
    sharpen: int = 50  # UnsharpMask strength in percent, radius 1 (the dataset's Gaussian of
    # radius and sigma 1.0); 0 = no sharpening
    stretch: bool = True  # the garment's brightest pixel -> 255, as in the dataset's images
    flatten: bool = False  # a background that changes across the photo (a gradient,
    # uneven light) made flat first (``fashionlab.data.background``); it did not help on
    # the validation photos (docs/photos.md)
    deskew: float = 5.0  # the largest turn (degrees) undone to bring a garment upright;
    # 0 = none

    def __post_init__(self) -> None:
        if self.resample not in RESAMPLING:
            raise FashionlabError(f"unknown resampling {self.resample!r}; choose one of: "
                                  f"{', '.join(RESAMPLING)}")


@dataclass(frozen=True)
class Placement:
    """Where a picture went in the 28x28 frame: the part ``region`` of it (left, top,
    right, bottom, as fractions of its width and height) was turned by ``angle`` degrees
    (counter-clockwise, ``Image.rotate`` with ``expand``), the part ``box`` of that kept
    (fractions again), resized to ``size`` (width, height) pixels and pasted at ``offset``
    (x, y); ``source`` is the picture's full size."""

    box: tuple[float, float, float, float]
    size: tuple[int, int]
    offset: tuple[int, int]
    source: tuple[int, int]
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    angle: float = 0.0


@dataclass(frozen=True)
class UserPicture:
    """A user's picture as a model sees it: ``image`` uint8 (28, 28), and its placement."""

    image: torch.Tensor
    placement: Placement


def image_files(paths: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """The files in ``paths``, with each folder replaced by its image files (by name).

    A folder is not searched below its first level; one without an image file is an
    error, and so is a path that does not exist.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                kinds = ", ".join(sorted(IMAGE_SUFFIXES))
                raise FashionlabError(f"the folder {path} holds no image file ({kinds})")
            files.extend(found)
        elif not path.exists():
            raise FashionlabError(f"{path} does not exist")
        else:
            files.append(path)
    return files


def load_user_images(paths: list[Path]) -> tuple[list[dict], list[UserPicture]]:
    """Each file read by ``read_user_picture``, in order: a record ``{"file": ...}`` per
    file, with ``"error"`` (the reason) for one that is not a usable picture, and the
    pictures of the others (in the order of their records)."""
    records, pictures = [], []
    for path in paths:
        try:
            pictures.append(read_user_picture(path))
            records.append({"file": str(path)})
        except FashionlabError as exc:
            records.append({"file": str(path), "error": str(exc)})
    return records, pictures


def load_user_image(path: str | Path) -> torch.Tensor:
    """Read one image file and return a uint8 tensor (28, 28) ready for a classifier."""
    return read_user_picture(path).image


def read_user_picture(path: str | Path, conversion: Conversion = Conversion()) -> UserPicture:
    """Read one image file and convert it (``convert_picture``), with its placement."""
    picture, full_size = _read(path, background=255, mode="RGB")
    image, placement = convert_picture(picture, conversion, name=str(path), source=full_size)
    return UserPicture(torch.from_numpy(image), placement)


def convert_picture(picture: Image.Image, conversion: Conversion = Conversion(),
                    name: str = "the picture", source: tuple[int, int] | None = None,
                    ) -> tuple[np.ndarray, Placement]:
    """An 8-bit picture ("L" or "RGB"; see ``as_8bit`` for others) -> the uint8 (28, 28)
    image of the dataset's conversion (module docstring) and its ``Placement``.
    ``name`` names the picture in errors; ``source`` is its full size when it was decoded
    smaller (JPEG draft mode)."""
    rgb = picture.convert("RGB")
    darkest, lightest = rgb.convert("L").getextrema()
    if darkest == lightest:
        raise FashionlabError(f"{name} shows nothing: every pixel has the same grey level "
                              f"(a blank or fully transparent picture)")
    if conversion.flatten:
        rgb = flatten_background(rgb, conversion.trim_distance)
    background, box, mask = _garment_box(rgb, conversion.trim_distance, name)
    region, angle = (0.0, 0.0, 1.0, 1.0), upright_angle(mask, conversion.deskew)
    if angle:
        region = _grown(box, rgb.size, 0.05)
        turned = _turn(rgb, region, angle, tuple(round(float(c)) for c in background))
        # Found again: a turned garment's box is smaller than that of the picture's part.
        _, box, _ = _garment_box(turned, conversion.trim_distance, name, background)
    else:
        turned = rgb
    gray = _crop(turned, box).convert("L")
    level = round(_luma(background))
    if level > 127:  # a light background: negate, as the dataset did
        gray, level = ImageOps.invert(gray), 255 - level
    # The background -> 0 and the garment's peak -> 255 (one linear map, as a lookup table),
    # before sharpening, so that the sharpening's overshoot is clipped alike at any contrast.
    peak = float(np.percentile(np.asarray(gray), PEAK_PERCENTILE)) if conversion.stretch else 255
    if peak <= level:
        raise FashionlabError(f"{name} shows nothing: no part of it is darker than its "
                              "light background (or lighter than its dark one)")
    gray = gray.point([min(255, max(0, round((v - level) * 255 / (peak - level))))
                       for v in range(256)])
    scale = SIDE / max(gray.size)
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    fitted = gray.resize(size, RESAMPLING[conversion.resample])
    if conversion.sharpen:
        fitted = fitted.filter(ImageFilter.UnsharpMask(1, conversion.sharpen, 0))
    canvas = Image.new("L", (SIDE, SIDE), 0)
    offset = ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2)
    canvas.paste(fitted, offset)
    image = np.asarray(canvas, dtype=np.uint8).copy()
    placement = Placement(box, size, offset, source or picture.size, region, angle)
    return image, placement


def _crop(picture: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The part ``box`` (fractions of the width and height) of ``picture``."""
    return picture.crop(tuple(round(f * s) for f, s in zip(box, picture.size * 2, strict=True)))


def _grown(box: tuple[float, float, float, float], size: tuple[int, int], margin: float,
           ) -> tuple[float, float, float, float]:
    """``box`` grown on each side by ``margin`` of the picture's longer side (in pixels),
    within the picture."""
    grow = margin * max(size)
    return (max(0.0, box[0] - grow / size[0]), max(0.0, box[1] - grow / size[1]),
            min(1.0, box[2] + grow / size[0]), min(1.0, box[3] + grow / size[1]))


def _turn(picture: Image.Image, region: tuple[float, float, float, float], angle: float,
          fill: tuple[int, ...] | int) -> Image.Image:
    """The part ``region`` of ``picture`` turned by ``angle`` degrees counter-clockwise,
    whole (the corners it uncovers filled with ``fill``), at most ``TURN_SIDE`` pixels a
    side before the turn (it ends as 28 pixels; turning a large photo is slow)."""
    part = _crop(picture, region)
    part.thumbnail((TURN_SIDE, TURN_SIDE), Image.Resampling.BOX)
    return part.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def _luma(rgb: np.ndarray) -> float:
    """The grey level of an RGB colour, with the weights of PIL's "L" conversion."""
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def _garment_box(rgb: Image.Image, trim_distance: float, name: str,
                 background: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """The background colour (the median of the outer pixels, unless given), the box of
    what differs from it by more than ``trim_distance`` of the largest RGB distance (left,
    top, right, bottom as fractions of the picture) and the bool mask of those pixels on a
    small copy of the box and its surroundings. Both are found on a small copy, and the box
    once more on a small copy of the box and its surroundings, so that it is as sharp for a
    small garment in a large photo as for one that fills the frame."""
    small = rgb.copy()
    small.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float32)
    if background is None:
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        background = np.median(border, axis=0)
    box, mask = _box_of(pixels, background, trim_distance)
    if box is None:
        colour = ", ".join(f"{c:.0f}" for c in background)
        raise FashionlabError(
            f"{name} shows nothing: no part of it differs from its background colour "
            f"(RGB {colour}) by more than {trim_distance:.0%}")
    # The box grown by two pixels of the small copy, in pixels of the picture.
    width, height = rgb.size
    grow = 2 * max(width, height) / max(small.size)
    around = (max(0, math.floor(box[0] * width - grow)), max(0, math.floor(box[1] * height - grow)),
              min(width, math.ceil(box[2] * width + grow)),
              min(height, math.ceil(box[3] * height + grow)))
    closer = rgb.crop(around)
    closer.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.BOX)
    inner, closer_mask = _box_of(np.asarray(closer, dtype=np.float32), background,
                                 trim_distance)
    if inner is not None:
        span_x, span_y = around[2] - around[0], around[3] - around[1]
        box = ((around[0] + inner[0] * span_x) / width, (around[1] + inner[1] * span_y) / height,
               (around[0] + inner[2] * span_x) / width, (around[1] + inner[3] * span_y) / height)
        mask = closer_mask
    return background, box, mask


def _box_of(pixels: np.ndarray, background: np.ndarray, trim_distance: float,
            ) -> tuple[tuple[float, float, float, float] | None, np.ndarray]:
    """The box (fractions) of the RGB ``pixels`` farther than ``trim_distance`` from the
    ``background`` colour (None when there are none), and the bool mask of those pixels."""
    distance = np.sqrt(((pixels - background) ** 2).sum(-1)) / math.sqrt(3)  # 0-255
    # A median filter removes isolated specks (dust, a stray pixel) and most of the noise
    # and JPEG ringing, so that they do not widen the box, and keeps edges where they are.
    distance_image = Image.fromarray(np.minimum(distance, 255).astype(np.uint8), "L")
    smooth = np.asarray(distance_image.filter(ImageFilter.MedianFilter(3)))
    mask = smooth > trim_distance * 255
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None, mask
    height, width = smooth.shape
    return (cols.min() / width, rows.min() / height, (cols.max() + 1) / width,
            (rows.max() + 1) / height), mask


def load_mask(path: str | Path) -> tuple[Image.Image, tuple[int, int]]:
    """Read a mask picture: light, opaque pixels mark the region to fill (transparent ones
    count as dark). Returns it in grey and its full size (width, height)."""
    return _read(path, background=0, mode="L")


def fit_mask(mask: Image.Image, full_size: tuple[int, int],
             placement: Placement) -> np.ndarray | None:
    """The mask as the 28x28 picture the model sees: a bool array, True where a pixel is to
    be filled (more than half of it light in the mask). A mask of 28x28 pixels is taken as
    it is; another must have the picture's size (``placement.source``) and goes through
    the same crop and fit as the picture. None when the sizes differ."""
    if full_size == (SIDE, SIDE):
        fitted = mask.resize((SIDE, SIDE), Image.Resampling.BOX)
    elif full_size == placement.source:
        if placement.angle:
            mask = _turn(mask, placement.region, placement.angle, 0)
        crop = _crop(mask, placement.box)
        fitted = Image.new("L", (SIDE, SIDE), 0)
        fitted.paste(crop.resize(placement.size, Image.Resampling.BOX), placement.offset)
    else:
        return None
    return np.asarray(fitted, dtype=np.uint8) >= 128


def open_picture(path: str | Path) -> tuple[Image.Image, tuple[int, int]]:
    """Open one image file with every check and return it as an 8-bit "RGB" or "L"
    picture (``as_8bit``; transparent pixels white) with its full size (width, height)."""
    return _read(path, background=255, mode="RGB")


def _read(path: str | Path, background: int, mode: str) -> tuple[Image.Image, tuple[int, int]]:
    """Open one image file with every check (a clear error for each problem) and return it
    8-bit (transparent pixels on ``background``) with its full size (width, height)."""
    path = Path(path)
    if not path.is_file():
        raise FashionlabError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise FashionlabError(f"{path} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check below
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise FashionlabError(
                        f"{path} is {width}x{height} pixels, larger than the "
                        f"{MAX_PIXELS:,}-pixel limit; shrink it first"
                    )
                img.draft(mode, (SIDE * 8, SIDE * 8))  # JPEG: decode at reduced size
                picture = as_8bit(img, background)  # a new image: the file may close
                if mode == "L":
                    picture = picture.convert("L")
    except FashionlabError:
        raise
    except Image.DecompressionBombError:
        raise FashionlabError(
            f"{path} has more than {MAX_PIXELS:,} pixels; shrink it first"
        ) from None
    except UnidentifiedImageError:
        raise FashionlabError(
            f"{path} is not an image (PNG, JPEG or another format PIL reads)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FashionlabError(f"{path} could not be decoded as an image: {exc}") from None
    return picture, (width, height)


def as_8bit(img: Image.Image, background: int = 255) -> Image.Image:
    """Any picture as 8-bit "L" or "RGB": more than 8 bits a pixel stretched from its own
    range, transparent pixels composited onto grey level ``background``."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        # More than 8 bits a pixel (16-bit PNGs, integer or float TIFFs): PIL's "L"
        # conversion clips at 255, which blanks them, so the image's own range of finite
        # values is stretched onto 0-255 instead.
        values = np.asarray(img, dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.any():
            return Image.new("L", img.size, 0)
        low, high = values[finite].min(), values[finite].max()
        scaled = (np.where(finite, values, low) - low) / max(high - low, 1e-300) * 255
        return Image.fromarray(np.round(scaled).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels count as background: composite onto it (white for a picture).
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (background, background, background, 255))
        img = Image.alpha_composite(canvas, rgba)
    return img.convert("L") if img.mode in ("1", "L") else img.convert("RGB")
