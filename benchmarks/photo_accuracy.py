"""Top-1 accuracy on shop-style photos against the same model on the same images as 28x28.

Each of the first ``--n`` test images becomes a photo (``fashionlab.data.photos``: seeded
backgrounds white, grey, tinted, gradient, noise or dark, margins, scales, rotations of up
to 6 degrees, PNG or JPEG of quality 60-95, 150-600 pixels a side), written to a file and
read back exactly as ``fashionlab predict`` reads one (``read_user_picture``). For each
classifier run the table gives its accuracy on those images as 28x28, on the photos, the
gap, and the photo accuracy by background.

``--choose`` picks the conversion's settings (``Conversion``: the largest turn undone,
the flattening of the background; resampling, sharpening and stretching were chosen the
same way before those existed, docs/photos.md) on photos rendered from the runs'
*validation* images instead, and reads no test image; the defaults in
``fashionlab.data.user_images`` are its choice.

    python benchmarks/photo_accuracy.py RUN [RUN ...] --data-dir DIR [--figure PNG]
    python benchmarks/photo_accuracy.py RUN [RUN ...] --data-dir DIR --choose
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fashionlab.classifier.predict import LoadedClassifier, load_classifier
from fashionlab.data import CLASS_NAMES, load_fashion_mnist
from fashionlab.data.photos import BACKGROUNDS, Photo, PhotoStyle, render_photo
from fashionlab.data.user_images import Conversion, convert_picture, open_picture

# Every combination is scored by --choose; the other settings keep their defaults.
CHOICES = {"deskew": (0.0, 5.0, 10.0, 15.0), "flatten": (False, True)}


def render(images: torch.Tensor, seed: int, angle: float = PhotoStyle.angle) -> list[Photo]:
    """One photo per image, all drawn from one generator seeded with ``seed``, turned by up
    to ``angle`` degrees."""
    rng = np.random.default_rng(seed)
    return [render_photo(image.numpy(), rng, PhotoStyle(angle=angle)) for image in images]


def convert(photos: list[Photo], conversions: list[Conversion], folder: Path) -> torch.Tensor:
    """Each photo written to a file, read as ``predict`` reads one, and converted with each
    conversion: uint8 (len(conversions), len(photos), 28, 28)."""
    out = torch.zeros(len(conversions), len(photos), 28, 28, dtype=torch.uint8)
    for i, photo in enumerate(photos):
        path = folder / f"photo{photo.suffix}"
        path.write_bytes(photo.data)
        picture, size = open_picture(path)
        for k, conversion in enumerate(conversions):
            out[k, i] = torch.from_numpy(convert_picture(picture, conversion, str(path),
                                                         size)[0])
    return out


def accuracy(classifier: LoadedClassifier, images: torch.Tensor, labels: torch.Tensor,
             ) -> tuple[float, torch.Tensor]:
    """Top-1 accuracy and the predicted classes."""
    predicted = classifier.predict_proba(images).argmax(1)
    return float((predicted == labels).float().mean()), predicted


def validation_images(classifiers: list[LoadedClassifier], data_dir: str | None,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation split the runs were trained beside (they must share one)."""
    splits = set()
    for c in classifiers:
        trainer = c.config["trainer"]
        seed = trainer["seed"] if trainer["split_seed"] is None else trainer["split_seed"]
        splits.add((trainer["n_val"], seed))
    if len(splits) != 1 or next(iter(splits))[0] == 0:
        raise SystemExit(f"--choose needs runs that share one validation split; they have "
                         f"(n_val, seed) {sorted(splits)}")
    n_val, seed = splits.pop()
    split = load_fashion_mnist(data_dir).split(n_val, seed)
    return split.val_images, split.val_labels


def choose(classifiers, names, images, labels, seed: int, folder: Path) -> Conversion:
    """Every combination of ``CHOICES`` on validation photos; the best by mean accuracy."""
    settings = [dict(zip(CHOICES, values, strict=True))
                for values in itertools.product(*CHOICES.values())]
    conversions = [Conversion(**setting) for setting in settings]
    converted = convert(render(images, seed), conversions, folder)
    print(f"photo accuracy on {len(images):,} validation photos (seed {seed}); "
          f"otherwise {Conversion()}")
    print(" ".join(f"{k:>8}" for k in CHOICES) + " "
          + " ".join(f"{n:>8}" for n in names) + f" {'mean':>7}")
    scores = []
    for setting, batch in zip(settings, converted, strict=True):
        accuracies = [accuracy(c, batch, labels)[0] for c in classifiers]
        scores.append(float(np.mean(accuracies)))
        print(" ".join(f"{v!s:>8}" for v in setting.values()) + " "
              + " ".join(f"{a:>8.4f}" for a in accuracies) + f" {scores[-1]:>7.4f}")
    best = settings[int(np.argmax(scores))]
    print("\nchosen on validation: " + " ".join(f"{k}={v}" for k, v in best.items()))
    return conversions[int(np.argmax(scores))]


def report(classifiers, names, images, labels, seed: int, folder: Path,
           figure: str | None, angle: float) -> dict:
    """The table of 28x28 and photo accuracy (module docstring) with the default conversion."""
    photos = render(images, seed, angle)
    seen = convert(photos, [Conversion()], folder)[0]
    kinds = np.array([p.background for p in photos])
    print(f"{len(images):,} test images and their photos (seed {seed}, rotations up to "
          f"{angle:g} degrees); photo accuracy by background")
    header = f"{'run':<10} {'28x28':>7} {'photos':>7} {'gap':>7}  " + " ".join(
        f"{k:>8}" for k in BACKGROUNDS)
    print(header)
    results = {}
    for name, classifier in zip(names, classifiers, strict=True):
        plain, _ = accuracy(classifier, images, labels)
        photo, predicted = accuracy(classifier, seen, labels)
        right = (predicted == labels).numpy()
        by_kind = {k: float(right[kinds == k].mean()) for k in BACKGROUNDS if (kinds == k).any()}
        results[name] = {"28x28": plain, "photos": photo, "gap": plain - photo, **by_kind}
        print(f"{name:<10} {plain:>7.4f} {photo:>7.4f} {100 * (plain - photo):>6.2f}p  "
              + " ".join(f"{by_kind.get(k, float('nan')):>8.4f}" for k in BACKGROUNDS))
    print("background counts: " + ", ".join(f"{k} {int((kinds == k).sum())}" for k in BACKGROUNDS))
    if figure:
        _, predicted = accuracy(classifiers[0], seen, labels)
        save_figure(photos, seen, predicted, labels, figure)
        print(f"figure: {figure}")
    return results


def save_figure(photos, seen, predicted, labels, path: str, count: int = 6) -> None:
    """The first ``count`` photos of distinct backgrounds above the 28x28 image the model
    saw, captioned with its prediction (blue when right, red when wrong)."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from fashionlab.viz.common import save_figure as save

    chosen, kinds = [], set()
    for i, photo in enumerate(photos):
        if photo.background not in kinds:
            chosen.append(i)
            kinds.add(photo.background)
        if len(chosen) == count:
            break
    fig, axes = plt.subplots(2, len(chosen), figsize=(1.5 * len(chosen), 3.4), squeeze=False)
    for column, i in enumerate(chosen):
        axes[0, column].imshow(Image.open(io.BytesIO(photos[i].data)).convert("RGB"))
        axes[0, column].set_title(f"{photos[i].size[0]}x{photos[i].size[1]} "
                                  f"{photos[i].suffix[1:]}", fontsize=7)
        axes[1, column].imshow(seen[i].numpy(), cmap="gray", vmin=0, vmax=255)
        right = int(predicted[i]) == int(labels[i])
        axes[1, column].set_title(CLASS_NAMES[int(predicted[i])], fontsize=8,
                                  color="tab:blue" if right else "tab:red")
        for ax in axes[:, column]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("photo", fontsize=8)
    axes[1, 0].set_ylabel("28x28 seen", fontsize=8)
    fig.tight_layout()
    save(fig, Path(path))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="classifier run folders")
    parser.add_argument("--names", nargs="+", help="a short name per run (default: folder)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=2000, help="images (and photos) scored")
    parser.add_argument("--seed", type=int, default=0, help="seeds the photos")
    parser.add_argument("--choose", action="store_true",
                        help="choose the conversion on validation photos (reads no test image)")
    parser.add_argument("--figure", help="report: save photos beside what the model saw")
    parser.add_argument("--angle", type=float, default=PhotoStyle.angle,
                        help="photos turned by up to this many degrees")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start, load = time.perf_counter(), os.getloadavg()[0]
    classifiers = [load_classifier(run, "cpu") for run in args.runs]
    names = args.names or [Path(run).name for run in args.runs]
    with tempfile.TemporaryDirectory() as folder:
        if args.choose:
            images, labels = validation_images(classifiers, args.data_dir)
            choose(classifiers, names, images[: args.n], labels[: args.n], args.seed,
                   Path(folder))
            results = {}
        else:
            data = load_fashion_mnist(args.data_dir)
            results = report(classifiers, names, data.test_images[: args.n],
                             data.test_labels[: args.n], args.seed, Path(folder), args.figure,
                             args.angle)
    print(f"{time.perf_counter() - start:.0f} s; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    return results


if __name__ == "__main__":
    main()
