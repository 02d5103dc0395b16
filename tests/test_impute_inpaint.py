"""Image inpainting: masks, baselines, scoring, and a dry run of the whole command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.inpaint.fill import box_mask, fill_pictures
from fashionlab.inpaint.train import (
    InpaintConfig,
    draw_masks,
    fill,
    inpaint,
    mean_fill,
    nearest_fill,
    pixel_errors,
)


def test_box_masks_remove_one_square_of_the_given_size():
    masks = draw_masks(50, InpaintConfig(mask="box", box_size=9), torch.Generator().manual_seed(0))
    assert masks.shape == (50, 1, 28, 28)
    assert torch.all((1 - masks).sum(dim=(1, 2, 3)) == 81)
    removed_rows = (1 - masks)[:, 0].amax(dim=2).sum(1)  # rows touched by the box
    assert torch.all(removed_rows == 9)


def test_pixel_masks_remove_about_the_fraction():
    masks = draw_masks(200, InpaintConfig(mask="pixels", pixel_fraction=0.3),
                       torch.Generator().manual_seed(0))
    assert abs((1 - masks).mean().item() - 0.3) < 0.01


def test_baselines_fill_only_hidden_pixels_and_nearest_finds_a_pool_image():
    images = torch.rand(6, 1, 28, 28)
    masks = draw_masks(6, InpaintConfig(box_size=10), torch.Generator().manual_seed(1))
    pool = torch.cat([torch.rand(20, 1, 28, 28), images])  # each image is in the pool
    filled = nearest_fill(pool, images, masks)
    assert torch.equal(filled, images)  # its own copy is the nearest on the visible pixels
    mean = mean_fill(pool, images, masks)
    assert torch.equal(mean[masks == 1], images[masks == 1])
    assert not torch.equal(mean[masks == 0], images[masks == 0])
    scores = pixel_errors(images, mean, masks)
    assert scores["pixels"] == 600 and scores["mae"] > 0


@pytest.mark.parametrize("model", ["conv", "mlp"])
def test_dry_run_on_synthetic_images_writes_a_run(tmp_path, model):
    data = synthetic_fashion(n_train=300, n_test=40)
    config = InpaintConfig(model=model, out=str(tmp_path / "run"), dry_run=True, n_val=100)
    results = inpaint(config, data)
    run = tmp_path / "run"
    assert (run / "figures" / "inpaint.png").stat().st_size > 1000
    assert (run / "model.safetensors").is_file()
    assert json.loads((run / "config.json").read_text())["steps"] == 5  # dry run shrank it
    assert json.loads((run / "scores.json").read_text())["test"]["gain"]["pixels"] == 40 * 144
    for split in ("val", "test"):
        assert set(results[split]) == {"gain", "mean", "nearest"}


def test_training_beats_mean_fill_on_learnable_images(tmp_path):
    # Synthetic class bands are easy: a short training already beats the per-pixel mean.
    data = synthetic_fashion(n_train=512, n_test=64)
    config = InpaintConfig(model="mlp", mask="pixels", steps=150, width=4, n_val=64, n_eval=64,
                           n_pool=200, out=str(tmp_path / "run"))
    results = inpaint(config, data)
    assert results["test"]["gain"]["rmse"] < results["test"]["mean"]["rmse"]


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(FashionlabError, match="--box-size must be between 1 and 27"):
        inpaint(InpaintConfig(box_size=28, out=str(tmp_path / "r")))
    with pytest.raises(FashionlabError, match="unknown mask 'blob'"):
        inpaint(InpaintConfig(mask="blob", out=str(tmp_path / "r")))
    with pytest.raises(FashionlabError, match="--threads must be 0"):
        inpaint(InpaintConfig(threads=-2, out=str(tmp_path / "r")))
    with pytest.raises(FashionlabError, match="--lr must be positive, got -1"):
        inpaint(InpaintConfig(lr=-1.0, out=str(tmp_path / "r")))
    with pytest.raises(FashionlabError, match="lr must be a finite number, got inf"):
        inpaint(InpaintConfig(lr=float("inf"), out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_cli_dry_run_on_the_real_data(fashion_dir, tmp_path, capsys):
    code = main(["inpaint", "--dry-run", "--data-dir", str(fashion_dir), "--mask", "pixels",
                 "--model", "mlp", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert "test  nearest" in out and "figure" in out
    assert (tmp_path / "run" / "figures" / "inpaint.png").is_file()


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("inpaint") / "run"
    config = InpaintConfig(model="conv", box_size=10, out=str(run), dry_run=True, n_val=100)
    inpaint(config, synthetic_fashion(n_train=300, n_test=40))
    return run


def test_fill_your_own_pictures_with_a_run(conv_run, tmp_path, capsys):
    from PIL import Image

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    images = synthetic_fashion(n_train=10, n_test=2).test_images
    for k, image in enumerate(images):  # dark clothes on white, at 4x: as a photo would be
        Image.fromarray(255 - image.numpy()).resize((112, 112)).save(pictures / f"p{k}.png")
    out = tmp_path / "filled.png"
    code = main(["fill", str(conv_run), str(pictures), "--box", "4,6,8,10", "--out", str(out)])
    assert code == 0 and out.stat().st_size > 1000
    assert capsys.readouterr().out.startswith(
        "filled a 8x10 box at row 4, column 6 of 2 picture(s) with")
    done = fill_pictures(conv_run, [pictures / "p0.png"], None, tmp_path / "default.png")
    assert done["box"] == [9, 9, 10, 10]  # the run's box size, centred


def test_fill_leaves_out_an_unusable_picture_and_says_so(conv_run, tmp_path, capsys):
    from PIL import Image

    good, blank = tmp_path / "good.png", tmp_path / "blank.png"
    Image.fromarray(synthetic_fashion(n_train=10, n_test=1).test_images[0].numpy()).save(good)
    Image.new("L", (28, 28), 255).save(blank)
    out = tmp_path / "f.png"
    code = main(["fill", str(conv_run), str(blank), str(good), "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2 and out.is_file() and "of 1 picture(s)" in stdout
    assert err == f"error: {blank} shows nothing: every pixel has the same grey level " \
                  "(a blank or fully transparent picture)\n"
    out.unlink()
    code = main(["fill", str(conv_run), str(blank), "--out", str(out)])
    assert code == 2 and capsys.readouterr().out == "" and not out.exists()


def test_a_fill_changes_the_box_only():
    mask = box_mask((4, 6, 8, 10))
    assert mask.shape == (1, 1, 28, 28) and int((mask == 0).sum()) == 80
    assert torch.all(mask[..., 4:12, 6:16] == 0)
    images = torch.rand(3, 1, 28, 28)
    masks = mask.expand(3, -1, -1, -1)
    generator = lambda x, m: torch.full_like(x, 0.5)  # noqa: E731 - any generator
    filled = fill(generator, images, masks)
    assert torch.equal(filled[masks == 1], images[masks == 1])
    assert torch.all(filled[masks == 0] == 0.5)


@pytest.mark.parametrize(("box", "message"), [
    ((20, 20, 10, 5), "must lie inside the 28x28 picture"),
    ((0, 0, 0, 5), "must lie inside the 28x28 picture"),
    ((-1, 0, 3, 3), "must lie inside the 28x28 picture"),
    ((1, 2, 3), "a box is four whole numbers"),
])
def test_a_bad_box_is_a_clear_error(box, message):
    with pytest.raises(FashionlabError, match=message):
        box_mask(box)


def test_fill_refuses_runs_that_cannot_fill(conv_run, tmp_path, capsys):
    from PIL import Image

    picture = tmp_path / "p.png"
    Image.fromarray(synthetic_fashion(n_train=10, n_test=1).test_images[0].numpy()).save(picture)
    other = tmp_path / "classifier"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "classifier", "model": "mlp"}))
    tampered = tmp_path / "tampered"
    shutil.copytree(conv_run, tampered)
    config = json.loads((tampered / "config.json").read_text())
    (tampered / "config.json").write_text(json.dumps({**config, "width": config["width"] + 2}))
    for run, message in ((other, "is a classifier run, not an inpaint run"),
                         (tampered, "do not match its config")):
        code = main(["fill", str(run), str(picture), "--out", str(tmp_path / "f.png")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1
    code = main(["fill", str(conv_run), str(picture), "--out", str(tmp_path / "f.jpg")])
    assert code == 2 and "--out must end in .png" in capsys.readouterr().err
    code = main(["fill", str(conv_run), *[str(picture)] * 17, "--out", str(tmp_path / "f.png")])
    assert code == 2 and "17 pictures: give at most 16" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "f.jpg").exists()


def test_a_mask_goes_through_the_same_fit_as_its_picture(tmp_path):
    from PIL import Image

    from fashionlab.data.user_images import fit_mask, load_mask, read_user_picture

    # A dark 30x20 garment at columns 10-39, rows 4-23 of a white 56x28 picture: trimmed to
    # it, fitted to 28x19 (its longest edge to 28), pasted at row 4 of the 28x28 frame.
    photo = Image.new("L", (56, 28), 255)
    photo.paste(40, (10, 4, 40, 24))
    photo.save(tmp_path / "photo.png")
    placement = read_user_picture(tmp_path / "photo.png").placement
    assert placement.size == (28, 19) and placement.offset == (0, 4)
    painted = Image.new("L", (56, 28), 0)
    painted.paste(255, (0, 0, 28, 28))  # the left half of the picture: 18 of the 30 columns
    painted.save(tmp_path / "half.png")
    removed = fit_mask(*load_mask(tmp_path / "half.png"), placement)
    expected = np.zeros((28, 28), dtype=bool)
    expected[4:23, :17] = True  # 18 * 28 / 30 = 16.8 columns, each more than half light
    assert np.array_equal(removed, expected)
    painted.crop((0, 0, 50, 28)).save(tmp_path / "other.png")
    assert fit_mask(*load_mask(tmp_path / "other.png"), placement) is None  # another size
    # a 28x28 mask is taken as it is; transparent pixels count as dark, whatever their colour
    layer = Image.new("RGBA", (28, 28), (255, 255, 255, 0))
    layer.paste((255, 255, 255, 255), (3, 4, 9, 6))
    layer.save(tmp_path / "layer.png")
    removed = fit_mask(*load_mask(tmp_path / "layer.png"), placement)
    assert removed.sum() == 12 and removed[4:6, 3:9].all()


def test_fill_a_region_painted_in_a_mask(conv_run, tmp_path, capsys):
    from PIL import Image

    images = synthetic_fashion(n_train=10, n_test=2).test_images
    good, other = tmp_path / "good.png", tmp_path / "other.png"
    Image.fromarray(255 - images[0].numpy()).resize((84, 84)).save(good)
    Image.fromarray(255 - images[1].numpy()).resize((90, 60)).save(other)
    mask = tmp_path / "mask.png"
    stroke = Image.new("L", (84, 84), 0)
    stroke.paste(255, (20, 30, 70, 50))
    stroke.save(mask)
    out = tmp_path / "filled.png"
    code = main(["fill", str(conv_run), str(good), str(other), "--mask", str(mask),
                 "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 2 and out.stat().st_size > 1000  # the good picture is filled
    assert stdout.startswith(f"filled the region marked in {mask} of 1 picture(s) with")
    assert err == (f"error: {other} is 90x60 pixels and the mask {mask} 84x84: a mask has "
                   "the size of the pictures, or 28x28\n")
    blank = tmp_path / "blank.png"
    Image.new("L", (84, 84), 0).save(blank)
    x = tmp_path / "x.png"
    for bad, message in ((blank, "marks no pixel of the 28x28 picture"),
                         (tmp_path / "none.png", "none.png is not a file")):
        code = main(["fill", str(conv_run), str(good), "--mask", str(bad), "--out", str(x)])
        assert code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: a box or a mask
        main(["fill", str(conv_run), str(good), "--mask", str(mask), "--box", "1,1,3,3",
              "--out", str(x)])
    assert "not allowed with argument --mask" in capsys.readouterr().err
    assert not x.exists()
