"""Tiny run folders (GAN, inpainting) and the one-error-line check, for the reliability tests."""

from __future__ import annotations

from pathlib import Path

from conftest import synthetic_fashion


def one_error_line(code: int, err: str) -> str:
    """The single ``error: ...`` line a failed command printed (asserting exit status 2,
    exactly one such line on stderr, last, and no traceback; progress lines may precede it)."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2, (code, err)
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def tiny_gan_run(folder: Path) -> Path:
    """A lite GAN trained one epoch on 96 synthetic images (seconds)."""
    from fashionlab.gan.train import GanConfig, train_gan

    config = GanConfig(model="lite", model_args={"g_width": 16, "d_width": 8}, epochs=1,
                       batch_size=32, samples=2, device="cpu", out=str(folder))
    train_gan(config, synthetic_fashion(n_train=96, n_test=32))
    return folder


def tiny_inpaint_run(folder: Path) -> Path:
    """A convolutional inpainting run of a few steps on synthetic images (seconds)."""
    from fashionlab.inpaint.train import InpaintConfig, inpaint

    config = InpaintConfig(model="conv", box_size=10, out=str(folder), dry_run=True, n_val=100)
    inpaint(config, synthetic_fashion(n_train=300, n_test=40))
    return folder


def save_picture(path: Path) -> Path:
    """A synthetic 28x28 garment as a PNG file."""
    from PIL import Image

    Image.fromarray(synthetic_fashion(n_train=10, n_test=1).test_images[0].numpy()).save(path)
    return path
