"""The sections of the demo report, in the order the story is told."""

from __future__ import annotations

import time

import torch

from fashionlab.data import CLASS_NAMES
from fashionlab.report.demo import DemoContext
from fashionlab.report.html import Section


def samples_section(ctx: DemoContext) -> Section:
    from fashionlab.viz.grids import save_sample_grid

    data = ctx.data
    pick = torch.randperm(len(data.train_images),
                          generator=torch.Generator().manual_seed(ctx.config.seed))[:24]
    path = save_sample_grid(data.train_images[pick], data.train_labels[pick], CLASS_NAMES,
                            ctx.path("samples.png"))
    return Section(
        "samples", "",
        text="Fashion-MNIST: 60,000 training and 10,000 test images of 28x28 pixels, 10 classes.",
        how=f"24 random training images (seed {ctx.config.seed}), read from {data.source} and "
        "verified against the published sha256 of the decompressed files.",
        figures=[("Random training images with their class names", path)],
        numbers={"training images": len(data.train_images), "test images": len(data.test_images)},
    )


def reference_classifier_section(ctx: DemoContext) -> Section:
    from fashionlab.train.classifier import ClassifierConfig, train_classifier

    epochs = ctx.budget.mlp_epochs
    config = ClassifierConfig(model="mlp", epochs=epochs, out=str(ctx.path("mlp")),
                              data_dir=ctx.config.data_dir, device=ctx.config.device,
                              seed=ctx.config.seed)
    t0 = time.perf_counter()
    result = train_classifier(config)
    wall = time.perf_counter() - t0
    figures = result.run_dir / "figures"
    return Section(
        "mlp", "",
        text="The reference dense network of the TensorFlow tutorial: Flatten -> Dense(128, ReLU)"
        " -> Dense(10), Adam (lr 1e-3), batch 32.",
        how=f"{epochs} epoch(s) on 55,000 training images, validation on 5,000 carved from the "
        f"training set, test accuracy once on the 10,000 test images; {ctx.device}, "
        f"{result.seconds_per_epoch:.2f} s per epoch, {wall:.0f} s with figures.",
        figures=[
            ("Training curves", figures / "training_curves.png"),
            ("Predictions on test images: label blue when right, red when wrong", figures /
             "predictions.png"),
            ("Confusion matrix (test set)", figures / "confusion_matrix.png"),
            ("The most confident mistakes", figures / "mistakes.png"),
        ],
        numbers={"test accuracy": result.test_accuracy,
                 "validation accuracy": result.val_accuracy,
                 "seconds per epoch": result.seconds_per_epoch, "epochs": epochs},
    )


SECTIONS = [
    ("samples", "1. The data", samples_section),
    ("mlp", "2. The reference dense classifier", reference_classifier_section),
]
