"""Fashion-MNIST: read the IDX files, verify them, find them, download them.

The data is looked for, in this order: a folder the caller names (``--data-dir``),
the folder in the ``FASHIONLAB_DATA`` environment variable, the user cache
(``$XDG_CACHE_HOME/fashionlab/fashion-mnist``, by default ``~/.cache/...``), the
Keras cache that the TensorFlow notebooks fill (``~/.keras/datasets/fashion-mnist``,
or under ``$KERAS_HOME``; only read), the folder a run was trained from (``recorded``:
``evaluate`` and ``score`` pass the one in the run's config, used when it still holds
the files), and finally a download into the user cache from the official mirrors.
A named folder that does not hold the data is an error, never a silent fall-through.

Checksums are sha256 of the *decompressed* bytes: they hold for the official
.gz files, for any re-compressed copy of them and for the files unzipped (a folder
may hold ``train-images-idx3-ubyte`` instead of ``train-images-idx3-ubyte.gz``, as
Kaggle's copy does).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fashionlab.errors import FashionlabError
from fashionlab.options import option

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Pixel statistics of the 60,000 training images on [0, 1] (shared/data/README.md).
TRAIN_MEAN = 0.2860
TRAIN_STD = 0.3530
BACKGROUND = (0.0 - TRAIN_MEAN) / TRAIN_STD  # a black pixel after normalisation

# file name -> sha256 of its decompressed content (the published values)
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# file name -> bytes of its decompressed content: an IDX header (8 or 16 bytes), then one
# byte per label or per pixel. Reading stops one byte past it: a gzip bomb is never inflated.
SIZES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte.gz": 8 + 60_000,
    "t10k-images-idx3-ubyte.gz": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte.gz": 8 + 10_000,
}

MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras's load_data()
)

ENV_VAR = "FASHIONLAB_DATA"

_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension, images: 3 dimensions
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file


def data_dir_option() -> str | None:
    """The ``data_dir`` field of every config that reads Fashion-MNIST (``--data-dir``)."""
    return option(None, "folder with the four Fashion-MNIST .gz files (default: "
                  "$FASHIONLAB_DATA, then ~/.cache/fashionlab, then download)")


def parse_class(text: str | int) -> int:
    """A class index from an index 0-9 or a name, as people write it: in any case, with
    or without spaces, hyphens and a plural s, and either half of "T-shirt/top"
    ("sneakers", "ankle-boot", "tshirt", "top" all work)."""
    value = str(text).strip()
    if value.isdigit() and int(value) < len(CLASS_NAMES):
        return int(value)
    wanted = _singular(_letters(value))
    for i, name in enumerate(CLASS_NAMES):
        if wanted in {_letters(name), *map(_letters, name.split("/"))}:
            return i
    valid = ", ".join(f"{i}={name}" for i, name in enumerate(CLASS_NAMES))
    raise FashionlabError(f"unknown class {value!r}; choose a name or index: {valid}")


def _letters(text: str) -> str:
    """``text`` in lower case without spaces, hyphens and slashes: "T-shirt" -> "tshirt"."""
    return "".join(c for c in text.lower() if c.isalnum())


def _singular(word: str) -> str:
    """"sneakers" -> "sneaker", "dresses" -> "dress"; "dress" and "bag" stay."""
    if word.endswith("sses"):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class FashionMNIST:
    """The whole data set in memory as uint8 images (N, 28, 28) and int64 labels (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path

    def split(self, n_val: int = 5000, seed: int = 0) -> Split:
        """Carve a seeded validation set of ``n_val`` images out of the training set."""
        return split_train_val(self.train_images, self.train_labels, n_val, seed)

    def pick(self, split: str, n: int, seed: int = 0,
             label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images of the ``split`` ("train" or "test") and their labels, drawn at
        random (seeded), all of class ``label`` when given."""
        images, labels = ((self.train_images, self.train_labels) if split == "train"
                          else (self.test_images, self.test_labels))
        if label is not None:
            images, labels = images[labels == label], labels[labels == label]
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        return images[order], labels[order]


@dataclass(frozen=True)
class Split:
    """A training set and the validation set carved from it (the test set stays apart)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor


def split_train_val(images: torch.Tensor, labels: torch.Tensor, n_val: int, seed: int) -> Split:
    """Split ``images``/``labels`` into train and validation parts with a seeded permutation."""
    n = len(images)
    if not 0 <= n_val < n:
        raise FashionlabError(f"validation size must be between 0 and {n - 1}, got {n_val}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val:]
    return Split(images[train], labels[train], images[val], labels[val])


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 standardised with the training-set mean and std."""
    return (images.float() / 255.0 - TRAIN_MEAN) / TRAIN_STD


def to_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 on [-1, 1], the range of a tanh generator."""
    return images.float() / 127.5 - 1.0


def from_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """Float images on [-1, 1] -> uint8 on [0, 255]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


# --------------------------------------------------------------------------- reading


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file (uint8 payload) into an array."""
    if len(raw) < 8:
        raise FashionlabError(f"{name} is too short to be an IDX file ({len(raw)} bytes)")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in _IDX_MAGIC:
        raise FashionlabError(
            f"{name} has the wrong magic number {magic} (expected 2049 for labels or 2051 "
            "for images): it is not a Fashion-MNIST IDX file"
        )
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FashionlabError(f"{name} is truncated inside its header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise FashionlabError(
            f"{name} holds {len(raw) - header} data bytes but its header promises {expected} "
            f"(shape {shape}): the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_file(path: Path, expected_sha256: str | None = None,
                  expected_size: int | None = None) -> np.ndarray:
    """Decompress (when gzip'd, whatever the name), verify and parse one IDX file. With
    ``expected_size`` (the decompressed bytes), at most one byte more is ever read or
    inflated: a larger file, or a gzip bomb, is refused before its checksum."""
    limit = -1 if expected_size is None else expected_size + 1
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == GZIP_MAGIC
            f.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=f) as inflated:
                    raw = inflated.read(limit)
            else:
                raw = f.read(limit)
    except FileNotFoundError:
        raise FashionlabError(f"{path} does not exist") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FashionlabError(
            f"{path} is not a complete gzip file ({exc}); delete it and download it again"
        ) from None
    except OSError as exc:
        raise FashionlabError(f"cannot read {path}: {exc.strerror or exc}") from None
    if expected_size is not None and len(raw) > expected_size:
        raise FashionlabError(
            f"{path} holds more than the {expected_size:,} bytes of this Fashion-MNIST file "
            "(decompressed); it is not Fashion-MNIST: delete it and download it again"
        )
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise FashionlabError(
                f"checksum mismatch for {path}: sha256 of its content is {digest[:16]}..., "
                f"expected {expected_sha256[:16]}...; the file is corrupt or not Fashion-MNIST"
            )
    return parse_idx(raw, str(path))


def read_folder(folder: Path) -> FashionMNIST:
    """Read and verify the four files in ``folder`` (each .gz, or unzipped)."""
    arrays = {name: read_idx_file(_find(folder, name) or folder / name, sha, SIZES[name])
              for name, sha in FILES.items()}

    def tensor(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(arrays[name].copy()).to(dtype)

    return FashionMNIST(
        train_images=tensor("train-images-idx3-ubyte.gz", torch.uint8),
        train_labels=tensor("train-labels-idx1-ubyte.gz", torch.int64),
        test_images=tensor("t10k-images-idx3-ubyte.gz", torch.uint8),
        test_labels=tensor("t10k-labels-idx1-ubyte.gz", torch.int64),
        source=folder,
    )


# --------------------------------------------------------------------------- finding


def cache_dir() -> Path:
    """The user cache folder for downloaded data."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fashionlab" / "fashion-mnist"


def keras_cache_dir() -> Path:
    """Where ``keras.datasets.fashion_mnist.load_data()`` keeps the four .gz files."""
    base = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(base) / "datasets" / "fashion-mnist"


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name`` (an official .gz file), else the file unzipped, else None."""
    for path in (folder / name, folder / name.removesuffix(".gz")):
        if path.is_file():
            return path
    return None


def _has_all_files(folder: Path) -> bool:
    return all(_find(folder, name) for name in FILES)


def _missing_message(folder: Path, how: str) -> str:
    missing = [name for name in FILES if not _find(folder, name)]
    return (
        f"the Fashion-MNIST folder {folder} ({how}) does not hold "
        f"{', '.join(missing)}; point --data-dir or {ENV_VAR} at a folder with the four "
        "official .gz files (or the files unzipped)"
    )


def locate(data_dir: str | Path | None = None, download: bool = True,
           recorded: str | Path | None = None) -> Path:
    """Return the folder that holds the four files, downloading them if needed."""
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not _has_all_files(folder):
            raise FashionlabError(_missing_message(folder, "given by --data-dir"))
        return folder
    env = os.environ.get(ENV_VAR)
    if env:
        folder = Path(env).expanduser()
        if not _has_all_files(folder):
            raise FashionlabError(_missing_message(folder, f"from ${ENV_VAR}"))
        return folder
    for folder in (cache_dir(), keras_cache_dir(), *([Path(recorded)] if recorded else [])):
        if _has_all_files(folder):
            return folder
    if not download:
        raise FashionlabError(
            f"Fashion-MNIST was not found in the cache {cache_dir()} nor in Keras's "
            f"{keras_cache_dir()}; pass --data-dir DIR or set {ENV_VAR}=DIR to a folder with "
            "the four official .gz files"
        )
    download_to(cache_dir())
    return cache_dir()


def load_fashion_mnist(data_dir: str | Path | None = None, download: bool = True,
                       recorded: str | Path | None = None) -> FashionMNIST:
    """Find (or download) and read Fashion-MNIST; see the module docstring for the order."""
    return read_folder(locate(data_dir, download, recorded))


# --------------------------------------------------------------------------- downloading


def download_to(
    folder: Path, mirrors: tuple[str, ...] | None = None, timeout: float = 30.0
) -> None:
    """Download the missing files into ``folder``, verifying each before it is kept."""
    mirrors = MIRRORS if mirrors is None else mirrors
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FashionlabError(f"cannot create the cache folder {folder}: {exc.strerror}") from None
    for name, sha in FILES.items():
        target = folder / name
        if target.is_file():
            continue
        errors = []
        for mirror in mirrors:
            try:
                _download_one(mirror + name, target, sha, timeout)
                break
            except (urllib.error.URLError, OSError, FashionlabError) as exc:
                errors.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
        else:
            raise FashionlabError(
                f"could not download {name} ({'; '.join(errors)}). Offline? Download the four "
                f"files by hand, or pass --data-dir DIR (or set {ENV_VAR}=DIR) to a local folder "
                "that holds them"
            )


def _download_one(url: str, target: Path, sha256: str, timeout: float) -> None:
    from tqdm import tqdm

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        read_idx_file(tmp, sha256, SIZES[target.name])  # raises on a truncated or wrong file
        shutil.move(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
