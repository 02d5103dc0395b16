"""Turn a user's own picture (any size, any colour) into a Fashion-MNIST-like 28x28 image.

Fashion-MNIST shows light garments on a black background, centred, filling most
of a 28x28 frame. A photo usually shows a dark garment on a light background, so
we convert to grayscale, invert when the border is light, fit the longer side into
the frame keeping the aspect ratio, and pad with black. Pictures of more than 8 bits a
pixel (16-bit PNGs, integer or float TIFFs) have their own range of values stretched
onto 0-255 first; a picture of one flat grey level is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from fashionlab.errors import FashionlabError

MAX_PIXELS = 64_000_000  # larger pictures (8000x8000) are refused before they are decoded
SIDE = 28
CONTENT = 24  # the garment fills about 24 of the 28 pixels in Fashion-MNIST
# What a folder given to ``fashionlab predict`` contributes: its files with these suffixes.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})


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


def load_user_images(paths: list[Path]) -> tuple[list[dict], list[torch.Tensor]]:
    """Each file read by ``load_user_image``, in order: a record ``{"file": ...}`` per file,
    with ``"error"`` (the reason) for one that is not a usable picture, and the pictures
    of the others (in the order of their records)."""
    records, images = [], []
    for path in paths:
        try:
            images.append(load_user_image(path))
            records.append({"file": str(path)})
        except FashionlabError as exc:
            records.append({"file": str(path), "error": str(exc)})
    return records, images


def load_user_image(path: str | Path) -> torch.Tensor:
    """Read one image file and return a uint8 tensor (28, 28) ready for a classifier."""
    gray, _ = _read_gray(path, background=255)
    darkest, lightest = gray.getextrema()
    if darkest == lightest:
        raise FashionlabError(f"{path} shows nothing: every pixel has the same grey level "
                              f"(a blank or fully transparent picture)")
    return torch.from_numpy(fit_to_fashion_mnist(gray))


def picture_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a picture ``load_user_image`` has read, from its header."""
    with Image.open(path) as img:
        return img.size


def load_mask(path: str | Path) -> tuple[Image.Image, tuple[int, int]]:
    """Read a mask picture: light, opaque pixels mark the region to fill (transparent ones
    count as dark). Returns it in grey and its full size (width, height)."""
    return _read_gray(path, background=0)


def fit_mask(mask: Image.Image, full_size: tuple[int, int],
             picture: tuple[int, int]) -> np.ndarray | None:
    """The mask as the 28x28 picture the model sees: a bool array, True where a pixel is to
    be filled (more than half of it light in the mask). A mask of 28x28 pixels is taken as
    it is; another must have the picture's size (``picture``: width, height) and goes
    through the same fit as the picture. None when the sizes differ."""
    if full_size == (SIDE, SIDE):
        fitted = np.asarray(mask.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.uint8)
    elif full_size == picture:
        fitted = _fit(mask, Image.Resampling.BOX)
    else:
        return None
    return fitted >= 128


def _read_gray(path: str | Path, background: int) -> tuple[Image.Image, tuple[int, int]]:
    """Open one image file with every check (a clear error for each problem) and return it
    in grey (transparent pixels on ``background``) with its full size (width, height)."""
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
                img.draft("L", (SIDE * 8, SIDE * 8))  # JPEG: decode at reduced size
                gray = _to_gray(img, background)  # a new image: the file may close
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
    return gray, (width, height)


def _to_gray(img: Image.Image, background: int = 255) -> Image.Image:
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
    return img.convert("L")


def fit_to_fashion_mnist(gray: Image.Image) -> np.ndarray:
    """Grayscale image -> uint8 (28, 28): light-on-dark, aspect kept, centred."""
    arr = np.asarray(gray, dtype=np.uint8)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if border.mean() > 127:
        gray = ImageOps.invert(gray)
    return _fit(gray, Image.Resampling.LANCZOS)


def _fit(gray: Image.Image, resample: Image.Resampling) -> np.ndarray:
    """The longer side fitted into ``CONTENT`` pixels, aspect kept, centred on a black
    28x28 canvas: uint8 (28, 28)."""
    fitted = ImageOps.contain(gray, (CONTENT, CONTENT), resample)
    canvas = Image.new("L", (SIDE, SIDE), 0)
    canvas.paste(fitted, ((SIDE - fitted.width) // 2, (SIDE - fitted.height) // 2))
    return np.asarray(canvas, dtype=np.uint8).copy()
