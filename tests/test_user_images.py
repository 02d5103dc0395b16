"""A user's own picture -> a Fashion-MNIST-like 28x28 image, whatever its pixel format."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashionlab.data.user_images import load_user_image
from fashionlab.errors import FashionlabError

# A dark garment-like block on a light background, as a photo shows one (values in 0-1).
PICTURE = np.full((56, 56), 0.9)
PICTURE[8:48, 14:42] = 0.2
PICTURE[20:30, 20:36] = 0.5


def save(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return path


@pytest.mark.parametrize("name, array", [
    ("sixteen.png", (PICTURE * 65535).astype(np.uint16)),
    ("twelve-bits.png", (PICTURE * 4095).astype(np.uint16)),
    ("int32.tif", (PICTURE * 1e6).astype(np.int32)),
    ("float.tif", PICTURE.astype(np.float32)),
    ("float-255.tif", (PICTURE * 255 - 1000).astype(np.float32)),
])
def test_pictures_of_more_than_8_bits_keep_their_content(tmp_path, name, array):
    # PIL's own conversion to 8 bits clips at 255 and used to blank these pictures.
    eight_bits = load_user_image(save(tmp_path / "eight.png", (PICTURE * 255).astype(np.uint8)))
    image = load_user_image(save(tmp_path / name, array))
    assert image.shape == (28, 28) and image.dtype == eight_bits.dtype
    assert image.max() >= 250  # the range is stretched: the garment is bright
    assert image[0].max() == 0 and image[:, 0].max() == 0  # inverted, black background
    correlation = np.corrcoef(image.flatten().float(), eight_bits.flatten().float())[0, 1]
    assert correlation > 0.98


def test_a_float_picture_with_nan_and_inf_cells_is_read(tmp_path):
    array = PICTURE.astype(np.float32)
    array[0, 0], array[5, 5] = np.nan, np.inf
    image = load_user_image(save(tmp_path / "holes.tif", array))
    assert image.max() >= 250 and image[0].max() == 0


@pytest.mark.parametrize("name, picture", [
    ("transparent.png", Image.new("RGBA", (300, 200), (0, 0, 0, 0))),
    ("white.jpg", Image.new("RGB", (64, 64), (255, 255, 255))),
    ("one-pixel.png", Image.new("L", (1, 1), 0)),
    ("flat16.png", Image.new("I;16", (28, 28), 300)),
    ("flat.tif", Image.new("F", (28, 28), 0.5)),
])
def test_a_picture_of_one_flat_grey_level_is_a_clear_error(tmp_path, name, picture):
    picture.save(tmp_path / name)
    with pytest.raises(FashionlabError, match=f"{name} shows nothing: every pixel has the same"):
        load_user_image(tmp_path / name)
