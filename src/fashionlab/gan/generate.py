"""Generate images from a GAN run, and optionally classify what it made.

``generate_images`` is the library entry (uint8 images for metrics and figures);
``generate`` is what ``fashionlab generate`` runs: it writes a PNG grid or a .npy
file and, with a classifier run, reports the class histogram and mean confidence
(and, for a conditional model, how often the classifier agrees with the class asked for).
Generation always runs in eval mode without gradients; the noise comes from a
seeded CPU generator, so a seed gives the same images on every device.

``noise_scale`` draws the generator's input noise as z ~ N(0, s^2 I) instead of the
N(0, I) it was trained on: the opposite of BigGAN's truncation trick (Brock et al. 2019),
which shrinks the noise for fidelity at the cost of variety. Above 1 it trades a little
fidelity for variety; 1.0 (the default) is the training distribution, unchanged.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fashionlab.data import CLASS_NAMES, from_tanh_range, parse_class
from fashionlab.errors import FashionlabError
from fashionlab.gan.train import read_run_config
from fashionlab.options import option, positive_int
from fashionlab.runtime.device import device_option, resolve_device
from fashionlab.runtime.files import atomic_write_bytes, prepare_output_file
from fashionlab.runtime.registry import create_model
from fashionlab.runtime.runs import (
    load_state,
    read_weights,
)

OUTPUT_SUFFIXES = (".png", ".npy")
GRID_MAX = 1024  # a plain .png grid holds at most this many images (128 rows of 8)
MAX_IMAGES = 1_000_000  # images per call: 784 MB as .npy


@dataclass
class GenerateConfig:
    """What ``fashionlab generate`` does."""

    run: str = option(help="GAN run folder (fashionlab train gan)", positional=True)
    n: int = option(64, "number of images")
    out: str = option("generated.png", ".png grid or .npy of uint8 images (n, 28, 28)")
    seed: int = option(0, "seeds the noise (and the class order); same seed, same images")
    class_name: str | None = option(
        None, "conditional runs: the class to make, by index or name (sneakers, ankle-boot, "
        "tshirt...) (default: all classes, balanced)", flag="--class", metavar="NAME|INDEX")
    classify: str | None = option(
        None, "classify the images: class histogram, mean confidence, captioned grid",
        metavar="CLASSIFIER_RUN")
    best: bool = option(False, "the best-FID epoch's generator instead of the last one")
    device: str = device_option()
    columns: int = option(8, "grid width", parse=positive_int)
    noise_scale: float = option(
        1.0, "sample the generator's noise as N(0, S^2 I) (1.0 = as in training; above 1: "
        "more variety, less fidelity)", metavar="S")

    def validate(self) -> None:
        check_noise_scale(self.noise_scale)
        if self.n < 1:
            raise FashionlabError(f"--n must be at least 1, got {self.n}")
        if self.n > MAX_IMAGES:
            raise FashionlabError(f"--n is at most {MAX_IMAGES:,} images per call (784 MB as "
                                  f".npy), got {self.n:,}")
        suffix = Path(self.out).suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise FashionlabError(f"--out must end in .png (a grid) or .npy (uint8 images), "
                                  f"got {self.out!r}")
        if suffix == ".png" and not self.classify and self.n > GRID_MAX:
            raise FashionlabError(
                f"a .png grid holds at most {GRID_MAX:,} images, got --n {self.n:,}: write them "
                "to a .npy file, or add --classify (its figure shows the first images, its "
                f"tables count all {self.n:,})")


@dataclass
class LoadedGenerator:
    """A generator rebuilt from its run folder, in eval mode."""

    model: nn.Module
    config: dict[str, Any]
    device: torch.device

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model, "num_classes", 0))


def load_generator(
    run_dir: str | Path, device: str = "auto", best: bool = False
) -> LoadedGenerator:
    """Rebuild a GAN run's generator from config.json and its safetensors weights."""
    config = read_run_config(run_dir)
    name = "generator_best.safetensors" if best else "generator.safetensors"
    if best and not (Path(run_dir) / name).is_file():
        raise FashionlabError(f"{run_dir} has no best epoch (it was trained without FID "
                              "tracking); drop --best")
    state = read_weights(run_dir, name)
    generator, _ = create_model(config.get("model", "?"), "gan", **config.get("model_args", {}))
    load_state(generator, state, f"the generator in {run_dir}")
    target = resolve_device(device)
    return LoadedGenerator(generator.to(target).eval(), config, target)


def check_noise_scale(value: float) -> float:
    """``value`` as a float if it is a positive finite number, else a FashionlabError."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise FashionlabError(f"--noise-scale must be a positive finite number, got {value!r} "
                              "(1.0 = the noise the generator was trained on)")
    return scale


def balanced_classes(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` labels cycling through all classes (as equal as possible), in a seeded order."""
    labels = torch.arange(n) % len(CLASS_NAMES)
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


@torch.no_grad()
def sample_images(
    loaded: LoadedGenerator, n: int, seed: int = 0, labels: torch.Tensor | None = None,
    batch_size: int = 1000, noise_scale: float = 1.0,
) -> torch.Tensor:
    """uint8 images (n, 28, 28) on the CPU from a loaded generator.

    The noise is z ~ N(0, ``noise_scale``^2 I): the same seeded N(0, I) draw times the
    scale, so one seed gives the same noise directions at every scale.
    """
    noise_scale = check_noise_scale(noise_scale)
    if n < 1:
        raise FashionlabError(f"the number of images must be at least 1, got {n}")
    if loaded.num_classes and labels is None:
        raise FashionlabError("this GAN is conditional: give the classes to generate")
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.shape != (n,):
            raise FashionlabError(f"need {n} class labels, got shape {tuple(labels.shape)}")
        if not loaded.num_classes:
            labels = None  # an unconditional generator ignores classes
    noise = torch.randn(n, loaded.model.noise_dim, generator=torch.Generator().manual_seed(seed))
    if noise_scale != 1.0:
        noise = noise * noise_scale
    model = loaded.model.eval()
    out = []
    for start in range(0, n, batch_size):
        z = noise[start : start + batch_size].to(loaded.device)
        y = None if labels is None else labels[start : start + batch_size].to(loaded.device)
        out.append(from_tanh_range(model(z, y).float().cpu())[:, 0])
    return torch.cat(out)


def generate_images(
    run_dir: str | Path, n: int, seed: int = 0, labels: torch.Tensor | None = None,
    device: str = "auto", best: bool = False, noise_scale: float = 1.0,
) -> torch.Tensor:
    """uint8 images (n, 28, 28) from a GAN run; ``labels`` (n,) for conditional runs."""
    return sample_images(load_generator(run_dir, device, best), n, seed, labels,
                         noise_scale=noise_scale)


def generate(config: GenerateConfig) -> dict[str, Any]:
    """Write ``config.out`` and return a report (and the classification, if asked for)."""
    config.validate()
    out = prepare_output_file(config.out)  # fail before any work
    loaded = load_generator(config.run, config.device, config.best)
    classifier = None
    if config.classify:
        from fashionlab.classifier.predict import load_classifier

        classifier = load_classifier(config.classify, config.device)

    labels = None
    if loaded.num_classes:
        if config.class_name is not None:
            labels = torch.full((config.n,), parse_class(config.class_name))
        else:
            labels = balanced_classes(config.n, config.seed)
    elif config.class_name is not None:
        raise FashionlabError(f"{config.run} is an unconditional GAN: it cannot make a chosen "
                              "class; drop --class or use a conditional run")
    images = sample_images(loaded, config.n, config.seed, labels, noise_scale=config.noise_scale)

    report: dict[str, Any] = {
        "run": str(config.run), "model": loaded.config["model"], "n": config.n,
        "seed": config.seed, "noise_scale": config.noise_scale, "out": str(out),
        "conditional": bool(loaded.num_classes),
        "requested": None if labels is None else _requested(labels),
    }
    probs = None
    if classifier is not None:
        from fashionlab.metrics.agreement import class_agreement, class_histogram

        probs = classifier.predict_proba(images)
        report["classifier"] = {"run": str(config.classify), "model": classifier.config["model"]}
        report["histogram"] = class_histogram(probs)
        if labels is not None:
            report["agreement"] = class_agreement(probs, labels)
    _write_output(out, images, probs, labels, config.columns)
    return report


def _requested(labels: torch.Tensor) -> dict[str, int]:
    counts = torch.bincount(labels, minlength=len(CLASS_NAMES))
    return {CLASS_NAMES[c]: int(k) for c, k in enumerate(counts) if k}


def _write_output(out: Path, images: torch.Tensor, probs: torch.Tensor | None,
                  labels: torch.Tensor | None, columns: int) -> None:
    if out.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, images.numpy().astype(np.uint8))
        atomic_write_bytes(out, buffer.getvalue())
        return
    if probs is None:
        from fashionlab.gan.figures import grid_image, save_png

        scale = 3 if len(images) <= 256 else 1
        save_png(grid_image(images, min(columns, len(images)), scale=scale), out)
        return
    from fashionlab.viz.grids import CAPTIONED_MAX, save_captioned_grid

    shown = min(len(images), CAPTIONED_MAX)
    confidence, predicted = probs[:shown].max(1)
    captions = [f"{CLASS_NAMES[int(p)]} {100 * float(c):.0f}%"
                for p, c in zip(predicted, confidence, strict=True)]
    colors = None
    if labels is not None:  # red where the classifier disagrees with the class asked for
        colors = ["tab:blue" if int(p) == int(y) else "tab:red"
                  for p, y in zip(predicted, labels[:shown], strict=True)]
    title = "predicted class and confidence"
    if shown < len(images):
        title += f" (first {shown} of {len(images)} images)"
    save_captioned_grid(images[:shown], captions, out, columns=min(columns, shown),
                        colors=colors, title=title)


def format_report(report: dict[str, Any]) -> str:
    """The report as text: what was written, then the class histogram and agreement tables."""
    scale = report.get("noise_scale", 1.0)
    lines = [f"wrote {report['n']} images from {report['run']} ({report['model']}, "
             f"seed {report['seed']}{f', noise scale {scale:g}' if scale != 1.0 else ''}) "
             f"to {report['out']}"]
    if report.get("requested"):
        asked = ", ".join(f"{k} {v}" for k, v in report["requested"].items())
        lines.append(f"classes asked for: {asked}")
    if "histogram" in report:
        h, c = report["histogram"], report["classifier"]
        lines.append(f"classified by {c['model']} ({c['run']}): mean confidence "
                     f"{h['mean_confidence']:.3f} over {h['samples']} images")
        lines.append(f"{'class':<12} {'count':>6} {'fraction':>8}  ")
        for name, row in h["classes"].items():
            bar = "#" * math.ceil(40 * row["fraction"]) if row["count"] else ""
            lines.append(f"{name:<12} {row['count']:>6} {row['fraction']:>8.3f}  {bar}")
    if "agreement" in report:
        from fashionlab.metrics.agreement import format_agreement

        lines += format_agreement(report["agreement"], "agreement with the class asked for")
    return "\n".join(lines)
