"""The Fashion-MNIST data layer: reading, verification, finding, downloading."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from fashionlab.data import fashion_mnist as fm
from fashionlab.errors import FashionlabError


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_real_data_shapes_and_statistics(fashion):
    assert fashion.train_images.shape == (60000, 28, 28)
    assert fashion.test_images.shape == (10000, 28, 28)
    assert fashion.train_images.dtype == torch.uint8
    assert fashion.train_labels.dtype == torch.int64
    assert torch.bincount(fashion.train_labels).tolist() == [6000] * 10
    mean = fashion.train_images.float().mean().item() / 255
    assert abs(mean - fm.TRAIN_MEAN) < 1e-3


def test_split_is_seeded_disjoint_and_complete(fashion):
    a, b = fashion.split(5000, seed=1), fashion.split(5000, seed=1)
    assert len(a.val_images) == 5000 and len(a.train_images) == 55000
    assert torch.equal(a.val_labels, b.val_labels)
    assert not torch.equal(a.val_labels, fashion.split(5000, seed=2).val_labels)
    # every training image lands in exactly one part: compare sums of pixels
    total = fashion.train_images.long().sum()
    assert a.train_images.long().sum() + a.val_images.long().sum() == total


def test_normalize_matches_training_statistics(fashion):
    x = fm.normalize(fashion.train_images[:20000])
    assert abs(x.mean().item()) < 0.02
    assert abs(x.std().item() - 1) < 0.02


def test_tanh_range_round_trip():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    scaled = fm.to_tanh_range(images)
    assert scaled.min() == -1 and scaled.max() == 1
    assert torch.equal(fm.from_tanh_range(scaled), images)


def test_parse_idx_rejects_wrong_magic():
    raw = struct.pack(">IIII", 1234, 1, 2, 2) + bytes(4)
    with pytest.raises(FashionlabError, match="wrong magic number 1234"):
        fm.parse_idx(raw)


def test_parse_idx_rejects_truncated_payload():
    raw = struct.pack(">IIII", 2051, 2, 28, 28) + bytes(100)
    with pytest.raises(FashionlabError, match="truncated"):
        fm.parse_idx(raw)


def test_truncated_gz_is_a_clear_error(tmp_path, fashion_dir):
    data = (fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    broken = tmp_path / "t10k-labels-idx1-ubyte.gz"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(FashionlabError, match="not a complete gzip file"):
        fm.read_idx_file(broken)


def test_checksum_mismatch_is_detected(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx_gz(path, np.zeros(10000, dtype=np.uint8))
    with pytest.raises(FashionlabError, match="checksum mismatch"):
        fm.read_idx_file(path, fm.FILES[path.name])


def test_a_folder_of_the_files_unzipped_reads_the_same_data(tmp_path, fashion_dir, fashion):
    # Kaggle's copy of Fashion-MNIST holds the IDX files unzipped
    for name in fm.FILES:
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(
            (fashion_dir / name).read_bytes()))
    unzipped = fm.load_fashion_mnist(tmp_path)
    assert torch.equal(unzipped.train_images, fashion.train_images)
    assert torch.equal(unzipped.test_labels, fashion.test_labels)
    broken = tmp_path / "t10k-labels-idx1-ubyte"
    broken.write_bytes(broken.read_bytes()[:-1] + b"\x00")  # one label changed
    with pytest.raises(FashionlabError, match="checksum mismatch for .*t10k-labels-idx1-ubyte"):
        fm.load_fashion_mnist(tmp_path)
    broken.unlink()
    with pytest.raises(FashionlabError, match=r"does not hold t10k-labels-idx1-ubyte.gz; .*"
                                              r"\(or the files unzipped\)"):
        fm.load_fashion_mnist(tmp_path)


def test_missing_data_folder_names_the_fix(tmp_path):
    with pytest.raises(FashionlabError, match="--data-dir") as err:
        fm.locate(tmp_path / "nowhere")
    assert "FASHIONLAB_DATA" in str(err.value)


def test_lookup_order_flag_then_env_then_cache_then_keras_cache(tmp_path, monkeypatch, fashion_dir):
    monkeypatch.setenv("FASHIONLAB_DATA", str(fashion_dir))
    assert fm.locate() == fashion_dir
    assert fm.locate(fashion_dir) == fashion_dir
    monkeypatch.setenv("FASHIONLAB_DATA", str(tmp_path / "empty"))
    with pytest.raises(FashionlabError, match="FASHIONLAB_DATA"):
        fm.locate()
    monkeypatch.delenv("FASHIONLAB_DATA")
    keras = fm.keras_cache_dir()  # filled by a TensorFlow notebook's load_data()
    assert keras.is_relative_to(os.environ["KERAS_HOME"])
    keras.mkdir(parents=True)
    for name in fm.FILES:
        (keras / name).symlink_to(fashion_dir / name)
    assert fm.locate(download=False) == keras
    cache = fm.cache_dir()
    cache.mkdir(parents=True)
    for name in fm.FILES:
        (cache / name).symlink_to(fashion_dir / name)
    assert fm.locate(download=False) == cache  # fashionlab's own cache first


def test_the_folder_a_run_recorded_comes_after_the_caches(tmp_path, fashion_dir):
    assert fm.locate(download=False, recorded=fashion_dir) == fashion_dir
    with pytest.raises(FashionlabError, match="was not found in the cache"):
        fm.locate(download=False, recorded=tmp_path / "moved away")
    keras = fm.keras_cache_dir()
    keras.mkdir(parents=True)
    for name in fm.FILES:
        (keras / name).symlink_to(fashion_dir / name)
    assert fm.locate(download=False, recorded=fashion_dir) == keras


def test_offline_without_data_fails_with_a_clear_message(monkeypatch):
    # Nothing listens on port 9 of the loopback interface: every mirror fails at once.
    monkeypatch.setattr(fm, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(FashionlabError, match="could not download .*--data-dir"):
        fm.locate()


def test_no_download_flag_names_the_fix():
    with pytest.raises(FashionlabError, match="nor in Keras's .*FASHIONLAB_DATA=DIR"):
        fm.locate(download=False)


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server standing in for an official mirror (loopback only)."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_verifies_and_fills_the_cache(mirror, fashion_dir, monkeypatch):
    root, url = mirror
    for name in fm.FILES:
        shutil.copy(fashion_dir / name, root / name)
    monkeypatch.setattr(fm, "MIRRORS", (url,))
    folder = fm.locate()
    assert folder == fm.cache_dir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(fm.FILES)


def test_download_of_a_corrupt_file_keeps_nothing(mirror, fashion_dir, monkeypatch):
    root, url = mirror
    for name in fm.FILES:
        shutil.copy(fashion_dir / name, root / name)
    write_idx_gz(root / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, dtype=np.uint8))
    monkeypatch.setattr(fm, "MIRRORS", (url,))
    with pytest.raises(FashionlabError, match="checksum mismatch"):
        fm.locate()
    assert not (fm.cache_dir() / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(fm.cache_dir().glob("*.part"))


@pytest.mark.parametrize(("text", "name"), [
    ("7", "Sneaker"), ("sneaker", "Sneaker"), ("Sneakers", "Sneaker"),
    ("ankle boots", "Ankle boot"), ("Ankle-Boot", "Ankle boot"), ("T-shirt/top", "T-shirt/top"),
    ("tshirt", "T-shirt/top"),
    ("t-shirts", "T-shirt/top"), ("top", "T-shirt/top"), ("shirts", "Shirt"), ("dresses", "Dress"),
    ("dress", "Dress"), ("trousers", "Trouser"), ("bags", "Bag"),
])
def test_a_class_is_named_as_people_write_it(text, name):
    assert fm.CLASS_NAMES[fm.parse_class(text)] == name


def test_an_unknown_class_or_index_lists_the_valid_ones():
    for text in ("shoe", "boot", "10", "-1", ""):
        with pytest.raises(FashionlabError, match="choose a name or index: 0=T-shirt/top"):
            fm.parse_class(text)


def test_pick_draws_seeded_images_of_one_class_or_all(tiny_fashion):
    images, labels = tiny_fashion.pick("test", 5, seed=1)
    again, _ = tiny_fashion.pick("test", 5, seed=1)
    assert images.shape == (5, 28, 28) and torch.equal(images, again)
    images, labels = tiny_fashion.pick("train", 10, seed=0, label=3)
    assert len(labels) == 10 and set(labels.tolist()) == {3}
