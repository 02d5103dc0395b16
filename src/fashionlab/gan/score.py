"""Score a GAN: FID, KID, precision/recall, memorisation, agreement and CAS in one report.

``score_run`` generates images from a GAN run folder and compares them with the 10,000
real test images; ``score_images`` does the same for any uint8 image arrays (so every
metric can be used and tested without a GAN). All distances are measured in the
penultimate features of one project classifier (``--classifier``), whose predictions
also give the class histogram and, for conditional runs, the agreement with the classes
that were asked for. Every report records the feature network, the sample counts and
the KID subset size, and says that these are not Inception-FID numbers. Memorisation
(``fashionlab.metrics.memorisation``) compares each generated image with its nearest
TRAINING image, in pixels and in features, gives MiFID beside FID, and draws the closest
pairs.

``noise_scale`` (see ``fashionlab.gan.generate``) changes how the generator is sampled, for
every metric at once: the scored images and CAS's own draws use the same sampler.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from fashionlab.data import CLASS_NAMES, load_fashion_mnist, parse_class
from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.errors import FashionlabError
from fashionlab.gan.generate import balanced_classes, check_noise_scale
from fashionlab.metrics.agreement import class_agreement, class_histogram, format_agreement
from fashionlab.metrics.cas import CASConfig, Sampler, classification_accuracy_score
from fashionlab.metrics.features import NOT_INCEPTION, ClassifierFeatures, as_uint8_images
from fashionlab.metrics.fid import KID_SUBSET_SIZE, KID_SUBSETS, frechet_distance, kernel_distance
from fashionlab.metrics.memorisation import NEAR_COPY_QUANTILE, memorisation_report
from fashionlab.metrics.prdc import DEFAULT_K, precision_recall
from fashionlab.options import option, positive_int
from fashionlab.runtime.device import device_option


@dataclass
class ScoreConfig:
    """What ``fashionlab score`` computes and how; recorded in its report."""

    run: str = option(help="GAN run folder (fashionlab train gan)", positional=True)
    classifier: str = option(
        help="classifier run folder: its penultimate features are the feature space and it "
        "judges agreement", flag="--classifier")
    n: int = option(10_000, "generated images (as many as the real test images)",
                    parse=positive_int)
    kid_subset_size: int = option(KID_SUBSET_SIZE, "images per KID subset (1,000 as "
                                  "torchmetrics; lowered to --n when larger, and said so)",
                                  parse=positive_int)
    kid_subsets: int = option(KID_SUBSETS, "KID subsets averaged (100 as torchmetrics)",
                              parse=positive_int)
    k: int = option(DEFAULT_K, "neighbours for precision/recall (3 as Kynkaanniemi et al.)",
                    parse=positive_int)
    seed: int = option(0, "seeds the noise, the class order and the KID subsets")
    cas: bool = option(True, "skip the Classification Accuracy Score (conditional runs)",
                       flag="--no-cas")
    cas_model: str = option(CASConfig.model, "the CAS classifier")
    cas_epochs: int = option(CASConfig.epochs, "its training epochs", parse=positive_int)
    cas_samples: int = option(0, "generated images CAS trains on (a fresh, class-balanced "
                              "draw; 0 = the n scored)")
    cas_real_baseline: bool = option(False, "also train the CAS classifier on as many real "
                                     "images, for comparison")
    cas_fresh: bool = option(False, "CAS trains each epoch on a new draw of generated images "
                             "(seeded: seed + epoch)")
    cas_crop_padding: int = option(CASConfig.crop_padding,
                                   "CAS augmentation: random crops after padding (0 = off)")
    cas_flip: bool = option(CASConfig.flip, "CAS augmentation: random flips")
    class_name: str | None = option(
        None, "conditional runs: score one class (name or index) against the test images of "
        "that class (default: all classes, n/10 each)", flag="--class", metavar="NAME|INDEX")
    best: bool = option(False, "score the best-FID epoch's generator instead of the last one")
    noise_scale: float = option(
        1.0, "sample the generator's noise as N(0, S^2 I) for every metric and CAS (1.0 = as "
        "in training; above 1: more variety, less fidelity)", metavar="S")
    memorisation: bool = option(True, "skip the nearest training images, near copies, MiFID "
                                "and the figure", flag="--no-memorisation")
    near_copy_quantile: float = option(
        NEAR_COPY_QUANTILE, "a near copy is closer to a training image than this quantile of "
        "the training images' distances to their nearest other one", metavar="Q")
    figure: str | None = option(None, "the closest generated/training pairs (default: "
                                "RUN/figures/closest_pairs.png)", metavar="PNG")
    device: str = device_option()
    data_dir: str | None = data_dir_option()

    def validate(self) -> None:
        check_noise_scale(self.noise_scale)
        if self.n < 2:
            raise FashionlabError(f"--n must be at least 2, got {self.n}")
        if not 0 < self.near_copy_quantile < 1:
            raise FashionlabError(f"--near-copy-quantile must be between 0 and 1, got "
                                  f"{self.near_copy_quantile}")
        if self.cas_samples < 0:
            raise FashionlabError(f"--cas-samples cannot be negative, got {self.cas_samples}")
        if self.cas_crop_padding < 0:
            raise FashionlabError(
                f"--cas-crop-padding cannot be negative, got {self.cas_crop_padding}")
        if self.k < 1 or self.n <= self.k:
            raise FashionlabError(f"--k must be between 1 and n-1, got {self.k}")


def score_images(
    generated: torch.Tensor,
    real: torch.Tensor,
    features: ClassifierFeatures,
    labels: torch.Tensor | None = None,
    real_labels: torch.Tensor | None = None,
    kid_subset_size: int = KID_SUBSET_SIZE,
    kid_subsets: int = KID_SUBSETS,
    k: int = DEFAULT_K,
    seed: int = 0,
    cas: CASConfig | None = None,
    cas_train: tuple[torch.Tensor, torch.Tensor] | None = None,
    cas_generated: tuple[torch.Tensor, torch.Tensor] | None = None,
    cas_sampler: Sampler | None = None,
    train: torch.Tensor | None = None,
    near_copy_quantile: float = NEAR_COPY_QUANTILE,
) -> dict[str, Any]:
    """All metrics of uint8 ``generated`` images against uint8 ``real`` images.

    ``labels``: the class each generated image was asked for (conditional generators);
    with them the report holds the classifier agreement, and with ``cas`` (and
    ``real_labels``) the Classification Accuracy Score. ``cas_train`` = real training
    (images, labels) for CAS's optional real-data baseline; ``cas_generated`` = other
    generated (images, labels) for CAS to train on instead of ``generated``;
    ``cas_sampler`` = later epochs' draws when ``cas.fresh_each_epoch``; ``train`` = the
    uint8 training images: with them the report holds ``memorisation`` and ``mifid``.

    Each set needs more than ``k`` images (precision/recall's neighbours); a KID subset
    larger than a set is lowered to its size, and the report says so.
    """
    from fashionlab.classifier.predict import predict_proba

    generated = as_uint8_images(generated, "generated images")
    real = as_uint8_images(real, "real images")
    for name, images in (("generated", generated), ("real", real)):
        if len(images) <= max(k, 1):
            raise FashionlabError(
                f"{len(images)} {name} image(s) cannot be scored: FID needs at least 2 and "
                f"precision/recall (k={k}) more than {k}; generate more images")
    start = time.perf_counter()
    fake_features, real_features = features(generated), features(real)
    probs = predict_proba(features.model, generated, features.device)
    fid = frechet_distance(real_features, fake_features)
    report: dict[str, Any] = {
        "note": NOT_INCEPTION,
        "feature_network": features.describe(),
        "samples": {"generated": len(generated), "real": len(real)},
        "fid": fid,
        "kid": kernel_distance(real_features, fake_features, kid_subset_size, kid_subsets,
                               seed),
        "precision_recall": precision_recall(real_features, fake_features, k),
        "class_histogram": class_histogram(probs),
    }
    if train is not None:
        train = as_uint8_images(train, "training images")
        memorisation = memorisation_report(generated, train, fake_features, features(train),
                                           fid, near_copy_quantile, seed=seed)
        report["mifid"] = memorisation.pop("mifid")
        report["memorisation"] = memorisation
    if labels is not None:
        report["agreement"] = class_agreement(probs, labels)
        if cas is not None:
            if real_labels is None:
                raise FashionlabError("CAS needs the labels of the real test images")
            real_x, real_y = cas_train if cas_train is not None else (None, None)
            cas_x, cas_y = cas_generated if cas_generated is not None else (generated, labels)
            report["cas"] = classification_accuracy_score(
                cas_x, cas_y, real, real_labels, cas, real_x, real_y, cas_sampler
            )
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def score_run(config: ScoreConfig) -> dict[str, Any]:
    """Generate ``config.n`` images from a GAN run and score them against the test set.

    A conditional run is asked for every class equally (n/10 each, seeded order) unless
    ``config.class_name`` names one class; then the real set is the test images of that
    class (1,000) and CAS is skipped (it needs every class).
    """
    from fashionlab.gan.generate import generate_images
    from fashionlab.gan.train import read_run_config
    from fashionlab.metrics.features import load_feature_network
    from fashionlab.runtime.runs import read_config

    config.validate()
    run_config = read_config(config.run)
    if run_config.get("kind") != "gan":
        raise FashionlabError(
            f"{config.run} is a {run_config.get('kind', 'unknown')} run, not a GAN run: "
            "`fashionlab score` scores the run folder of `fashionlab train gan`"
        )
    run_config = read_run_config(config.run)  # its settings' types checked
    conditional = bool(run_config.get("conditional", False))
    chosen = None
    if config.class_name is not None:
        if not conditional:
            raise FashionlabError(f"{config.run} is an unconditional GAN: it cannot make a chosen "
                                  "class; drop --class or use a conditional run")
        chosen = parse_class(config.class_name)
    features = load_feature_network(config.classifier, config.device)
    data = load_fashion_mnist(config.data_dir,
                              recorded=run_config.get("trainer", {}).get("data_dir"))
    real, real_labels = data.test_images, data.test_labels
    if chosen is not None:
        real, real_labels = real[real_labels == chosen], real_labels[real_labels == chosen]
    labels = None
    if conditional:
        labels = (torch.full((config.n,), chosen) if chosen is not None
                  else balanced_classes(config.n, config.seed))
    start = time.perf_counter()
    images = generate_images(config.run, config.n, seed=config.seed, labels=labels,
                             device=config.device, best=config.best,
                             noise_scale=config.noise_scale)
    generate_seconds = time.perf_counter() - start
    cas, cas_generated, cas_sampler = None, None, None
    if config.cas and conditional and chosen is None:
        cas = CASConfig(model=config.cas_model, epochs=config.cas_epochs, seed=config.seed,
                        device=config.device, real_baseline=config.cas_real_baseline,
                        fresh_each_epoch=config.cas_fresh,
                        crop_padding=config.cas_crop_padding, flip=config.cas_flip)
        if config.cas_fresh or config.cas_samples:
            draw = generator_sampler(config.run, config.seed, config.device, config.best,
                                     config.noise_scale)
            cas_sampler = draw if config.cas_fresh else None
            cas_generated = draw(config.cas_samples, 1) if config.cas_samples else None
    report = score_images(
        images, real, features, labels, real_labels,
        config.kid_subset_size, config.kid_subsets, config.k, config.seed, cas,
        (data.train_images, data.train_labels), cas_generated, cas_sampler,
        data.train_images if config.memorisation else None, config.near_copy_quantile,
    )
    if config.memorisation:
        figure = Path(config.figure) if config.figure else (
            Path(config.run) / "figures" / "closest_pairs.png")
        report["memorisation"]["figure"] = str(save_closest_pairs(
            images, data.train_images, report["memorisation"]["closest_pairs"], figure))
    report["samples"]["real_source"] = (
        "Fashion-MNIST test set" if chosen is None
        else f"Fashion-MNIST test images of class {CLASS_NAMES[chosen]}")
    report["run"] = {"path": str(config.run), "model": run_config.get("model"),
                     "conditional": conditional, "best": config.best,
                     "noise_scale": config.noise_scale,
                     "class": None if chosen is None else CLASS_NAMES[chosen]}
    report["generate_seconds"] = round(generate_seconds, 2)
    report["config"] = asdict(config)
    return report


def save_closest_pairs(generated: torch.Tensor, train: torch.Tensor,
                       pairs: list[dict[str, Any]], path: str | Path) -> Path:
    """The generated images closest to a training image (top row) over that training
    image (bottom row), with the pixel distance."""
    from fashionlab.runtime.files import prepare_output_file
    from fashionlab.viz.grids import pair_cells, save_captioned_grid

    path = prepare_output_file(path)
    cells, captions = pair_cells(
        generated[[p["generated"] for p in pairs]], train[[p["train"] for p in pairs]],
        [f"generated {p['generated']}" for p in pairs],
        [f"train {p['train']}\nd={p['pixel_distance']:.2f}" for p in pairs], len(pairs))
    return save_captioned_grid(cells, captions, path, columns=max(len(pairs), 1),
                               title="Generated images closest to a training image (below)")


def generator_sampler(run: str | Path, seed: int, device: str = "auto",
                      best: bool = False, noise_scale: float = 1.0) -> Sampler:
    """CAS's endless source: epoch ``e``'s draw is ``n`` class-balanced images, seed ``seed + e``,
    with input noise z ~ N(0, ``noise_scale``^2 I).

    Epoch 1 trains on the scored images (seed ``seed``) or, with ``--cas-samples``, on this
    sampler's own epoch-1 draw (seed ``seed + 1``), so the seeds of later epochs (from
    ``seed + 2``) never repeat them.
    """
    from fashionlab.gan.generate import load_generator, sample_images

    noise_scale = check_noise_scale(noise_scale)
    loaded = load_generator(run, device, best)

    def draw(n: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = balanced_classes(n, seed + epoch)
        return sample_images(loaded, n, seed + epoch, labels, noise_scale=noise_scale), labels

    return draw


def format_score(report: dict[str, Any]) -> str:
    """The report as text, with the feature network, sample counts and the not-Inception note."""
    fn, s, kid, pr = (report["feature_network"], report["samples"], report["kid"],
                      report["precision_recall"])
    run = report.get("run")
    title = "generated images"
    if run:
        what = [run["model"]] + ["conditional"] * run["conditional"] + ["best-FID epoch"] * run[
            "best"] + ([f"class {run['class']}"] if run["class"] else []) + (
            [f"noise scale {run['noise_scale']:g}"] if run.get("noise_scale", 1.0) != 1.0 else [])
        title = f"{run['path']} ({', '.join(what)})"
    lines = [
        f"{title}: {s['generated']:,} generated vs {s['real']:,} real images",
        (f"feature network: {fn['model']} from {fn.get('run', '?')} "
         f"({fn['layer']} layer, {fn['feature_dim']} features)"),
        f"FID        {report['fid']:.3f}" + (
            f"   MiFID {format_mifid(report['mifid'])}" if "mifid" in report else ""),
        format_kid(kid),
        f"precision  {pr['precision']:.4f}   recall {pr['recall']:.4f}   (k={pr['k']})",
        f"density    {pr['density']:.4f}   coverage {pr['coverage']:.4f}",
        *(format_memorisation(report["memorisation"]) if "memorisation" in report else []),
        "classified as: " + ", ".join(
            f"{name} {100 * c['fraction']:.1f}%"
            for name, c in report["class_histogram"]["classes"].items()
        ) + f"; mean confidence {report['class_histogram']['mean_confidence']:.3f}",
    ]
    if "agreement" in report:
        lines += format_agreement(report["agreement"],
                                  "classifier agreement with the requested class", indent="  ",
                                  digits=4)
    if "cas" in report:
        c = report["cas"]
        cc = c["classifier"]
        how = (f"a new draw of {c['train_samples']:,} generated images each epoch"
               if cc.get("fresh_each_epoch") else f"{c['train_samples']:,} generated images")
        aug = []
        if cc.get("crop_padding"):
            aug.append(f"crop padding {cc['crop_padding']}")
        if cc.get("flip"):
            aug.append("flips")
        line = (f"CAS        {c['cas']:.4f} ({cc['model']} trained {cc['epochs']} epochs on "
                f"{how}{', ' + ' and '.join(aug) if aug else ''}, tested on "
                f"{c['test_samples']:,} real test images)")
        if "real_accuracy" in c:
            line += f"; same classifier on as many real images: {c['real_accuracy']:.4f}"
        lines.append(line)
    lines.append(f"note: {report['note']}")
    return "\n".join(lines)


def format_kid(kid: dict[str, Any]) -> str:
    """The KID line: mean +- std, the 95% interval, the subsets (and a lowered size)."""
    low, high = kid["interval"]
    line = (f"KID        {kid['mean']:.5f} +- {kid['std']:.5f} (95% of subsets in "
            f"[{low:.5f}, {high:.5f}]; {kid['subsets']} subsets of {kid['subset_size']:,}")
    if "requested_subset_size" in kid:
        line += f", lowered from {kid['requested_subset_size']:,}: fewer images than that"
    return line + ")"


def format_mifid(mifid: dict[str, Any]) -> str:
    """MiFID, why it equals FID or not, and its value with Kaggle's epsilon."""
    how = ("<" if mifid["penalised"] else ">=")
    return (f"{mifid['value']:.3f} (memorisation distance {mifid['memorisation_distance']:.4f} "
            f"{how} epsilon {mifid['epsilon']:.4f}"
            f"{': FID divided by it' if mifid['penalised'] else ''}; with Kaggle's epsilon "
            f"0.1: {mifid['value_at_kaggle_epsilon']:.3f})")


def format_memorisation(memo: dict[str, Any]) -> list[str]:
    """Near copies in pixels and in features, each against its threshold."""
    lines = []
    for space in ("pixels", "features"):
        m = memo[space]
        lines.append(
            f"near copies of training images ({space}): {m['near_copies']:,} "
            f"({100 * m['near_copy_fraction']:.2f}%; nearest-training distance mean "
            f"{m['mean_nearest']:.3f}, min {m['min_nearest']:.3f}; threshold "
            f"{m['threshold']:.3f}: {100 * memo['quantile']:g}% of training images are that "
            "close to another)")
    if "figure" in memo:
        lines.append(f"closest pairs: {memo['figure']}")
    return lines


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as JSON, atomically."""
    from fashionlab.runtime.files import atomic_write_json, prepare_output_file

    path = prepare_output_file(path)
    atomic_write_json(path, report)
    return path
