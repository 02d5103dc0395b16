"""A user's own picture -> a Fashion-MNIST-like 28x28 image, whatever its pixel format."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashionlab.data.background import flatten_background
from fashionlab.data.deskew import upright_angle
from fashionlab.data.photos import BACKGROUNDS, PhotoStyle, render_photo
from fashionlab.data.user_images import Conversion, convert_picture, fit_mask, load_user_image
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
    assert image[:, 0].max() == 0 and image[:, -1].max() == 0  # inverted, black background
    correlation = np.corrcoef(image.flatten().float(), eight_bits.flatten().float())[0, 1]
    assert correlation > 0.98


def test_a_float_picture_with_nan_and_inf_cells_is_read(tmp_path):
    array = PICTURE.astype(np.float32)
    array[0, 0], array[5, 5] = np.nan, np.inf
    image = load_user_image(save(tmp_path / "holes.tif", array))
    assert image.max() >= 250 and image[:, 0].max() == 0


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


def shirt() -> np.ndarray:
    """A Fashion-MNIST-like shirt: light, textured, its longest edge the full 28 rows."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[:, 7:21] = 160 + 3 * np.arange(28)[:, None]  # the body, lighter towards the hem
    image[0:9, 2:26] = 230  # the sleeves
    image[0:3, 11:17] = 0  # the neckline
    return image


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_a_photo_becomes_the_image_it_was_rendered_from(tmp_path, background):
    # The dataset's conversion undoes the photo: trimmed to the garment, background to
    # black, longest edge 28, whatever the background (a dark one is not negated), margin,
    # scale, small rotation, size or JPEG quality.
    rng = np.random.default_rng(1)
    for i in range(3):
        photo = render_photo(shirt(), rng, PhotoStyle(backgrounds=(background,), angle=2))
        path = tmp_path / f"photo{i}{photo.suffix}"
        path.write_bytes(photo.data)
        seen = load_user_image(path).numpy().astype(float)
        assert np.corrcoef(seen.flatten(), shirt().flatten())[0, 1] > 0.85, (background, i)
        assert seen[:, 0].max() < 40 and seen[:, -1].max() < 40  # black either side
        assert seen.max() >= 200  # stretched: the garment is bright


def test_margins_and_specks_do_not_change_what_the_model_sees(tmp_path):
    seen = []
    for size, place in (((120, 120), (20, 30)), ((500, 380), (300, 10))):
        canvas = Image.new("RGB", size, (235, 228, 220))
        coverage = Image.fromarray(shirt()).resize((84, 84), Image.Resampling.BICUBIC)
        canvas.paste((40, 30, 60), place, coverage)  # a dark garment on a light background
        canvas.putpixel((2, size[1] - 3), (0, 0, 0))  # a speck of dust far from the garment
        canvas.save(tmp_path / "photo.png")
        seen.append(load_user_image(tmp_path / "photo.png").numpy().astype(float))
    assert np.abs(seen[0] - seen[1]).mean() < 4


def test_a_photo_of_only_background_is_a_clear_error(tmp_path):
    noise = np.random.default_rng(0).normal(225, 4, (200, 300, 3)).clip(0, 255)
    Image.fromarray(noise.astype(np.uint8)).save(tmp_path / "wall.jpg", quality=70)
    with pytest.raises(FashionlabError, match="wall.jpg shows nothing: no part of it differs "
                       "from its background colour"):
        load_user_image(tmp_path / "wall.jpg")


def turned_photo(degrees: float, size: int = 300) -> Image.Image:
    """The shirt, dark on an off-white canvas, turned by ``degrees`` counter-clockwise."""
    canvas = Image.new("RGB", (size, size), (236, 232, 226))
    coverage = Image.fromarray(shirt()).resize((168, 168), Image.Resampling.BICUBIC)
    coverage = coverage.rotate(degrees, Image.Resampling.BICUBIC, expand=True)
    canvas.paste((40, 30, 60), (40, 50), coverage)
    return canvas


@pytest.mark.parametrize("degrees", [-4.5, -3, 3, 4.5])
def test_a_turned_garment_is_turned_back_upright(degrees):
    upright, _ = convert_picture(turned_photo(0))
    turned, placement = convert_picture(turned_photo(degrees))
    kept, _ = convert_picture(turned_photo(degrees), Conversion(deskew=0))
    assert abs(placement.angle + degrees) <= 1  # it turns it back
    error = np.abs(turned.astype(float) - upright).mean()
    assert error < np.abs(kept.astype(float) - upright).mean()  # closer than left turned
    assert np.corrcoef(turned.flatten(), upright.flatten())[0, 1] > 0.95


def test_an_upright_garment_is_not_turned():
    _, placement = convert_picture(turned_photo(0))
    assert placement.angle == 0 and placement.region == (0, 0, 1, 1)


def test_a_mask_is_turned_with_its_picture(tmp_path):
    photo = turned_photo(4)
    seen, placement = convert_picture(photo)
    # The mask: the garment's own pixels, in the photo's coordinates.
    mask = Image.fromarray((np.asarray(photo.convert("L")) < 150).astype(np.uint8) * 255)
    fitted = fit_mask(mask, photo.size, placement)
    garment = seen >= 128
    assert (fitted & garment).sum() / (fitted | garment).sum() > 0.8


@pytest.mark.parametrize("degrees", [-9, -2.5, 0, 5])
def test_upright_angle_is_the_turn_that_undoes_a_turn(degrees):
    block = Image.new("L", (200, 200), 0)
    block.paste(255, (60, 40, 140, 160))
    mask = np.asarray(block.rotate(degrees, Image.Resampling.BICUBIC)) >= 128
    assert upright_angle(mask, 10) == pytest.approx(-degrees, abs=0.5)
    assert upright_angle(mask, 0) == 0  # no turn asked for


def test_upright_angle_of_too_few_pixels_or_a_line_is_none():
    mask = np.zeros((20, 20), dtype=bool)
    assert upright_angle(mask, 10) == 0
    mask[5, 3:15] = True
    assert upright_angle(mask, 10) == 0


def test_a_background_that_changes_across_the_photo_is_made_flat():
    ys, xs = np.mgrid[0:240, 0:320]
    ramp = np.stack([200 + 40 * xs / 320, 230 - 30 * ys / 240, 215 + 0 * xs], -1)
    photo = ramp.round().astype(np.uint8)
    photo[60:200, 100:220] = (40, 30, 60)  # the garment, reaching no edge
    photo[100:240, 150:170] = (40, 30, 60)  # a strap down to the bottom edge
    flat = np.asarray(flatten_background(Image.fromarray(photo), 0.05)).astype(float)
    background = flat.copy()
    background[60:240, 100:220] = np.nan
    assert np.nanmax(background, (0, 1)).max() - np.nanmin(background, (0, 1)).min() <= 6
    assert np.abs(flat[80:180, 120:200] - (40, 30, 60)).max() <= 25  # the garment stays dark
    # A flat background is left as it is.
    plain = photo.copy()
    plain[:, :100] = plain[:, 220:] = plain[:60] = plain[200:, :150] = plain[200:, 170:] = 220
    plain = Image.fromarray(plain)
    assert flatten_background(plain, 0.05) is plain
