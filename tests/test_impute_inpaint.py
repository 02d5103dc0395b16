"""Image inpainting: masks, baselines, scoring, and a dry run of the whole command."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.impute.inpaint import (
    InpaintConfig,
    draw_masks,
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
