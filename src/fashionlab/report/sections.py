"""The sections of the demo report, in the order the story is told."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from fashionlab.classifier.recipes import CNN_RECIPE
from fashionlab.data import CLASS_NAMES
from fashionlab.errors import FashionlabError
from fashionlab.options import format_key_values
from fashionlab.report.context import DemoContext
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
    from fashionlab.classifier.train import ClassifierConfig, train_classifier

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


def cnn_section(ctx: DemoContext) -> Section:
    from fashionlab.classifier.train import ClassifierConfig, train_classifier

    b = ctx.budget
    config = ClassifierConfig(model=b.cnn_model, model_args=dict(b.cnn_args),
                              epochs=b.cnn_epochs, time_budget=b.cnn_seconds,
                              out=str(ctx.path("cnn")), data_dir=ctx.config.data_dir,
                              device=ctx.config.device, seed=ctx.config.seed, **CNN_RECIPE)
    t0 = time.perf_counter()
    result = train_classifier(config)
    wall = time.perf_counter() - t0
    epochs = len(result.history)
    budget = f"a {b.cnn_seconds:.0f}-second training budget" if b.cnn_seconds else "no time limit"
    figures = result.run_dir / "figures"
    recipe = ", ".join(f"{k}={v}" for k, v in CNN_RECIPE.items())
    return Section(
        "cnn", "",
        text=f"A convolutional network ({b.cnn_model}, {format_key_values(b.cnn_args)}), "
        "trained as long as the profile allows.",
        how=f"{epochs} epoch(s) under {budget} on 55,000 training images ({recipe}); settings "
        f"chosen on the 5,000 validation images; test accuracy once on the 10,000 test images; "
        f"{ctx.device}, {wall:.0f} s with evaluation and figures.",
        figures=[
            ("Training curves", figures / "training_curves.png"),
            ("Confusion matrix (test set)", figures / "confusion_matrix.png"),
            ("Predictions on test images", figures / "predictions.png"),
        ],
        numbers={"test accuracy": result.test_accuracy,
                 "validation accuracy": result.val_accuracy,
                 "epochs": epochs, "seconds per epoch": result.seconds_per_epoch},
    )


def _gan_how(ctx: DemoContext, model: str, epochs: int, subset: int, seconds: float) -> str:
    images = f"a seeded subset of {subset:,}" if subset else "all 60,000"
    return (f"{model}: {epochs} epoch(s) on {images} training images, {ctx.device}, "
            f"{seconds:.1f} s per epoch; sample grids use one fixed noise batch.")


def _train_demo_gan(ctx: DemoContext, model: str, epochs: int, subset: int, samples: int):
    from fashionlab.gan.train import GanConfig, train_gan

    config = GanConfig(model=model, epochs=epochs, train_subset=subset or None, samples=samples,
                       out=str(ctx.path(model)), data_dir=ctx.config.data_dir,
                       device=ctx.config.device, seed=ctx.config.seed)
    return train_gan(config, data=ctx.data)


def dcgan_section(ctx: DemoContext) -> Section:
    epochs, subset = ctx.budget.gan_epochs, ctx.budget.gan_train_subset
    result = _train_demo_gan(ctx, "dcgan", epochs, subset, samples=16)
    figures = result.run_dir / "figures"
    last = result.history[-1]
    return Section(
        "dcgan", "",
        text="The DCGAN of the TensorFlow tutorial: Dense -> BatchNorm -> ReLU -> transposed "
        "convolutions -> tanh against a two-convolution discriminator, BCE on logits, Adam 1e-4, "
        "batch 256. The same 16 noise vectors are drawn after every epoch.",
        how=_gan_how(ctx, "dcgan", epochs, subset, result.seconds_per_epoch),
        figures=[
            ("Fixed noise before training (epoch 0)", figures / "samples" / "epoch_000.png"),
            (f"Fixed noise after epoch {epochs}", figures / "samples" / f"epoch_{epochs:03d}.png"),
            ("Progress, one frame per epoch", figures / "progress.gif"),
            ("Generator and discriminator losses", figures / "losses.png"),
        ],
        numbers={"generator loss": last["loss_g"], "discriminator loss": last["loss_d"],
                 "seconds per epoch": result.seconds_per_epoch, "epochs": epochs},
    )


def _demo_classifier(ctx: DemoContext):
    """The strongest classifier the demo trained so far (the CNN, else the dense one)."""
    from fashionlab.classifier.predict import load_classifier

    for key in ("cnn", "mlp"):
        section = ctx.results.get(key)
        if section is not None and section.status == "ok":
            return load_classifier(ctx.path(key), ctx.config.device), key
    raise FashionlabError("no classifier was trained in this demo to judge the generated images")


def conditional_gan_section(ctx: DemoContext) -> Section:
    from fashionlab.gan.generate import load_generator, sample_images
    from fashionlab.metrics.agreement import class_agreement, class_histogram
    from fashionlab.viz.grids import save_captioned_grid

    b = ctx.budget
    result = _train_demo_gan(ctx, b.cgan_model, b.cgan_epochs, b.cgan_train_subset, samples=8)
    classifier, which = _demo_classifier(ctx)
    generator = load_generator(result.run_dir, ctx.config.device)
    n_per_class = 100
    requested = torch.arange(len(CLASS_NAMES)).repeat_interleave(n_per_class)
    images = sample_images(generator, len(requested), seed=ctx.config.seed, labels=requested)
    probs = classifier.predict_proba(images)
    agreement = class_agreement(probs, requested)
    histogram = class_histogram(probs)
    shown = torch.cat([torch.arange(c * n_per_class, c * n_per_class + 8) for c in range(10)])
    predicted = probs.argmax(1)
    grid = save_captioned_grid(
        images[shown], [CLASS_NAMES[int(predicted[i])] for i in shown],
        ctx.path("cgan_classified.png"), columns=8,
        colors=["tab:blue" if predicted[i] == requested[i] else "tab:red" for i in shown],
        title="One row per requested class; caption = the classifier's verdict",
    )
    figures = result.run_dir / "figures"
    table = [{"requested class": name, "agreement": row["agreement"],
              "mean confidence": row["mean_confidence"],
              "most confused with": row["most_confused_with"] or "-"}
             for name, row in agreement["per_class"].items()]
    return Section(
        "cgan", "",
        text="A class-conditional GAN: asked for a class, it draws that garment. The classifier "
        f"trained above ({which}) judges {len(requested):,} generated images, "
        f"{n_per_class} per class.",
        how=_gan_how(ctx, b.cgan_model, b.cgan_epochs, b.cgan_train_subset,
                     result.seconds_per_epoch)
        + f" Agreement = fraction of generated images the {which} classifier assigns to the "
        "requested class.",
        figures=[
            ("Fixed noise, one row per class, after the last epoch",
             figures / "samples" / f"epoch_{b.cgan_epochs:03d}.png"),
            ("Generated images with the classifier's verdict (blue = the requested class)", grid),
            ("Losses", figures / "losses.png"),
        ],
        numbers={"classifier agreement": agreement["agreement"],
                 "mean confidence": histogram["mean_confidence"],
                 "seconds per epoch": result.seconds_per_epoch, "epochs": b.cgan_epochs},
        table=table,
    )


def imputation_section(ctx: DemoContext) -> Section:
    import pandas as pd

    from fashionlab.data.air_quality import load_air_quality
    from fashionlab.impute.baselines import MedianImputer
    from fashionlab.impute.masking import masked_errors
    from fashionlab.impute.protocols import WINDOW, prepare_protocol
    from fashionlab.impute.timeseries import LinearInterpolationImputer, LocfImputer
    from fashionlab.impute.window_gain import WindowGainImputer
    from fashionlab.viz.impute import save_filled_series

    b = ctx.budget
    table = load_air_quality(ctx.config.air_quality_dir)
    days = {"train": 90, "val": 14, "test": 14} if b.impute_quick else None
    protocol = prepare_protocol(table, "saits", seed=ctx.config.seed, days=days)
    test = protocol.scored["test"]
    gan_options = (dict(d_model=32, n_layers=1, n_heads=2, disc_hidden=32, epochs=3,
                        batch_size=16) if b.impute_quick
                   else dict(epochs=1000, max_seconds=b.impute_gan_seconds))
    methods = {
        "median": MedianImputer(),
        "last observation carried forward": LocfImputer(window=WINDOW),
        "linear interpolation": LinearInterpolationImputer(window=WINDOW),
        "window GAN (GAIN + hint)": WindowGainImputer(window=WINDOW, random_state=ctx.config.seed,
                                                      **gan_options),
    }
    rows, filled = [], {}
    for name, imputer in methods.items():
        t0 = time.perf_counter()
        filled[name] = imputer.fit(protocol.train).transform(test.given)
        errors = masked_errors(test.truth, filled[name], test.hidden)
        rows.append({"method": name, "MAE": errors["mae"], "RMSE": errors["rmse"],
                     "MRE": errors["mre"], "seconds": round(time.perf_counter() - t0, 1)})
    gan = "window GAN (GAIN + hint)"

    def frame(values):
        return pd.DataFrame(protocol.scaler.inverse_transform(values), index=test.index,
                            columns=protocol.columns)

    figure = save_filled_series(
        ctx.path("imputation_series.png"), frame(test.given), frame(filled[gan]), "Dongsi",
        variables=["PM2.5", "NO2", "TEMP", "WSPM"], truth=frame(test.truth), hours=24 * 7,
        title="Dongsi, one week of the test split: observed (blue), filled by the GAN (red), "
        "hidden truth (green rings)",
    )
    n_hidden = int(test.hidden.sum())
    scope = ("the first 90 training days and 14 test days (smoke scale: these numbers check the "
             "pipeline, they measure nothing)" if b.impute_quick else "the full protocol")
    return Section(
        "impute", "",
        text="Filling gaps in 12 Beijing stations x 11 variables (132 columns, hourly) with a "
        "GAN imputer against simple baselines. Full tables for every method and both published "
        "protocols: benchmarks/impute_air_quality.py.",
        how=f"SAITS protocol on {scope}: standardised with training statistics, 10% of the "
        f"observed test cells hidden ({n_hidden:,} cells), each 24-hour window imputed on its "
        "own; errors on the hidden cells in standardised units. The GAN trained "
        + ("3 tiny epochs." if b.impute_quick else f"for at most {b.impute_gan_seconds:.0f} s."),
        figures=[("One station's series with its filled gaps", figure)],
        numbers={"GAN MAE": next(r["MAE"] for r in rows if r["method"] == gan),
                 "linear interpolation MAE": rows[2]["MAE"], "hidden cells": n_hidden},
        table=rows,
    )


def inpainting_section(ctx: DemoContext) -> Section:
    from fashionlab.inpaint.train import InpaintConfig, inpaint

    b = ctx.budget
    config = InpaintConfig(out=str(ctx.path("inpaint")), data_dir=ctx.config.data_dir,
                           seed=ctx.config.seed, steps=b.inpaint_steps,
                           n_eval=200 if b.inpaint_steps < 500 else 1000,
                           n_pool=5000 if b.inpaint_steps < 500 else 20000)
    results = inpaint(config, data=ctx.data)
    test = results["test"]
    table = [{"method": name, **{k: v for k, v in errors.items()}}
             for name, errors in test.items()]
    gain, nearest = test["gain"], test["nearest"]

    def lower(metric: str) -> str:
        return "GAIN" if gain[metric] < nearest[metric] else "the nearest neighbour"

    return Section(
        "inpaint", "",
        text="Image inpainting: a square of each test image is removed and a GAIN generator "
        f"({config.model}) fills it, against mean-fill and nearest-neighbour baselines. "
        f"Lower RMSE: {lower('rmse')}; lower MAE: {lower('mae')}. The generator's fill leans "
        "towards the mean of what could be there (smooth, which RMSE rewards); the nearest "
        "neighbour copies a real, sharp patch (good when it finds a close match, far off "
        "when not).",
        how=f"{config.box_size}x{config.box_size} box masks, {config.steps} training steps of "
        f"batch {config.batch_size}; errors on the hidden pixels of {config.n_eval} test images "
        f"(pixel values in [0, 1]); the nearest neighbour is searched among {config.n_pool:,} "
        "training images.",
        figures=[("Original / masked / filled", Path(results["figure"]))],
        numbers={"GAIN RMSE": gain["rmse"], "nearest-neighbour RMSE": nearest["rmse"],
                 "mean-fill RMSE": test["mean"]["rmse"], "GAIN MAE": gain["mae"],
                 "nearest-neighbour MAE": nearest["mae"], "mean-fill MAE": test["mean"]["mae"],
                 "training seconds": results["train_seconds"]},
        table=table,
    )


# The sections that do not read Fashion-MNIST (the air-quality imputation).
WITHOUT_FASHION_MNIST = frozenset({"impute"})

SECTIONS = [
    ("samples", "1. The data", samples_section),
    ("mlp", "2. The reference dense classifier", reference_classifier_section),
    ("cnn", "3. A convolutional classifier", cnn_section),
    ("dcgan", "4. The reference DCGAN", dcgan_section),
    ("cgan", "5. A conditional GAN, judged by the classifier", conditional_gan_section),
    ("impute", "6. Filling missing air-quality data with a GAN", imputation_section),
    ("inpaint", "7. Inpainting: filling a removed region", inpainting_section),
]
