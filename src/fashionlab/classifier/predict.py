"""Use a trained classifier: load a run, predict, evaluate on the test set, draw its figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from torch import nn

from fashionlab.classifier.augment import tta_log_probs
from fashionlab.classifier.config import read_run_config
from fashionlab.data import CLASS_NAMES, FashionMNIST, load_fashion_mnist, normalize
from fashionlab.data.batches import EVAL_BATCH_SIZE
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.data.user_images import image_files, load_user_images
from fashionlab.errors import FashionlabError
from fashionlab.runtime.device import resolve_device
from fashionlab.runtime.registry import create_model
from fashionlab.runtime.runs import load_state, read_metrics, read_weights


@dataclass
class LoadedClassifier:
    """A classifier rebuilt from its run folder, in eval mode."""

    model: nn.Module
    config: dict[str, Any]
    device: torch.device

    @property
    def tta_flip(self) -> bool:
        """Whether the run predicts with test-time flip averaging (set when it was trained)."""
        return bool(self.config.get("tta_flip", False))

    @property
    def tta_shift(self) -> int:
        """How many pixels the run's test-time averaging moves each image (0 = none)."""
        return int(self.config.get("tta_shift", 0))

    @torch.inference_mode()
    def predict_proba(self, images: torch.Tensor,
                      batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
        """uint8 images (N, 28, 28) -> class probabilities (N, 10) on the CPU."""
        return predict_proba(self.model, images, self.device, batch_size, self.tta_flip,
                             self.tta_shift)

    @torch.inference_mode()
    def features(self, images: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
        """uint8 images (N, 28, 28) -> penultimate features (N, feature_dim) on the CPU."""
        out = [
            self.model.features(normalize(images[s : s + batch_size]).unsqueeze(1)
                                .to(self.device)).float().cpu()
            for s in range(0, len(images), batch_size)
        ]
        return torch.cat(out) if out else torch.empty(0, self.model.feature_dim)


def load_classifier(run_dir: str | Path, device: str = "auto") -> LoadedClassifier:
    """Rebuild the model of a classifier run from config.json and its safetensors weights."""
    config = read_run_config(run_dir)
    state = read_weights(run_dir)
    model = create_model(config.get("model", "?"), "classifier", **config.get("model_args", {}))
    load_state(model, state, f"the classifier in {run_dir}")
    target = resolve_device(device)
    return LoadedClassifier(model.to(target).eval(), config, target)


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    images: torch.Tensor,
    device: torch.device,
    batch_size: int = EVAL_BATCH_SIZE,
    tta_flip: bool = False,
    tta_shift: int = 0,
) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> softmax probabilities (N, classes), computed in eval mode.

    With ``tta_flip`` or ``tta_shift`` the probabilities are the mean over the views of
    ``tta_log_probs`` (the image, its mirror image, both moved by up to ``tta_shift``
    pixels).
    """
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start : start + batch_size]).unsqueeze(1).to(device)
        outputs.append(tta_log_probs(model, x, tta_flip, tta_shift, BACKGROUND).exp().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, len(CLASS_NAMES))


def classification_report(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix."""
    predicted = probs.argmax(1).numpy()
    truth = labels.numpy()
    classes = list(range(len(CLASS_NAMES)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": float((predicted == truth).mean()),
        "samples": int(len(truth)),
        "per_class": {
            CLASS_NAMES[c]: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c in classes
        },
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }


def ensemble_proba(classifiers: Sequence[LoadedClassifier], images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> the mean of the classifiers' probabilities (N, 10).

    Averaging independently trained models is the classic ensemble: their mistakes differ
    in part, so the mean is right more often than a typical member. Probabilities that are
    not finite are an error, not a "nan%" verdict.
    """
    probs = torch.stack([c.predict_proba(images) for c in classifiers]).mean(0)
    if not bool(torch.isfinite(probs).all()):  # finite weights can still overflow
        raise FashionlabError("the classifier's probabilities are not finite numbers (NaN): "
                              "its weights overflow float32; train the run again")
    return probs


def _load_classifiers(
    run_dir: str | Path | Sequence[str | Path], device: str, command: str,
) -> tuple[list[str | Path], list[LoadedClassifier]]:
    """One classifier run folder or several (an ensemble), as a list, and each loaded."""
    run_dirs = [run_dir] if isinstance(run_dir, (str, Path)) else list(run_dir)
    if not run_dirs:
        raise FashionlabError(f"{command} needs at least one classifier run folder")
    return run_dirs, [load_classifier(r, device) for r in run_dirs]


def evaluate_run(
    run_dir: str | Path | Sequence[str | Path], data_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Test-set report of a classifier run, or of the ensemble of several runs (their mean
    probabilities; see ``classification_report``), with ``clean_test``: the accuracy on
    the test images that have no exact or near copy in the training set."""
    run_dirs, classifiers = _load_classifiers(run_dir, device, "evaluate")
    data = load_fashion_mnist(data_dir, recorded=classifiers[0].config["trainer"].get("data_dir"))
    probs = ensemble_proba(classifiers, data.test_images)
    report = classification_report(probs, data.test_labels)
    report["clean_test"] = clean_test_accuracy(probs, data)
    models = [c.config["model"] for c in classifiers]
    if len(run_dirs) == 1:
        report.update(run=str(run_dirs[0]), model=models[0], split="test")
    else:
        report.update(runs=[str(r) for r in run_dirs],
                      model=f"ensemble of {len(models)} ({', '.join(models)})", split="test")
    return report


def clean_test_accuracy(probs: torch.Tensor, data: FashionMNIST) -> dict[str, Any]:
    """Accuracy on the test images without an exact or near copy among the training images
    (``fashionlab.data.audit.training_copies``): a copy seen in training can inflate the usual
    number."""
    from fashionlab.data.audit import NEAR_DUPLICATE_RMS, training_copies

    copies = training_copies(data.train_images, data.test_images)
    clean = torch.from_numpy(~(copies["exact"] | copies["near"]))
    correct = probs.argmax(1) == data.test_labels
    return {
        "accuracy": float(correct[clean].float().mean()) if clean.any() else float("nan"),
        "samples": int(clean.sum()),
        "excluded": {"exact": int(copies["exact"].sum()), "near": int(copies["near"].sum())},
        "near_duplicate_rms": NEAR_DUPLICATE_RMS,
    }


def predict_files(
    run_dir: str | Path | Sequence[str | Path], paths: Sequence[str | Path], top: int = 3,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Top-``top`` classes with probabilities for each of the user's image files (a folder
    stands for the image files in it), in order, by a classifier run or by the ensemble of
    several (their mean probabilities, as ``evaluate_run``). A file that is not a usable
    picture (not an image, blank, too large...) gets ``"error"`` (the reason) instead of
    ``"top"``, and the other files are still classified."""
    paths = image_files(paths)
    _, classifiers = _load_classifiers(run_dir, device, "predict")
    results, pictures = load_user_images(paths)
    readable = [result for result in results if "error" not in result]
    if readable:
        images = torch.stack([picture.image for picture in pictures])
        for result, p in zip(readable, ensemble_proba(classifiers, images),
                             strict=True):
            values, indices = p.topk(min(top, len(p)))
            result["top"] = [
                {"class": CLASS_NAMES[int(i)], "index": int(i), "probability": float(v)}
                for v, i in zip(values, indices, strict=True)
            ]
    return results


def write_classifier_figures(
    run_dir: Path,
    probs: torch.Tensor,
    data: FashionMNIST,
    history: Sequence[dict[str, float]] | None = None,
) -> dict[str, Path]:
    """Curves, prediction plot, confusion matrix and mistakes gallery, from a model's class
    probabilities ``probs`` (10,000, classes) on the test set."""
    from fashionlab.classifier.figures import (
        save_confusion_matrix,
        save_mistakes_gallery,
        save_prediction_plot,
    )
    from fashionlab.viz.curves import save_training_curves

    figures = Path(run_dir) / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    report = classification_report(probs, data.test_labels)
    history = history if history is not None else read_metrics(run_dir)
    paths = {}
    if history:
        paths["curves"] = save_training_curves(history, figures / "training_curves.png")
    paths["predictions"] = save_prediction_plot(
        data.test_images[:15], probs[:15], data.test_labels[:15], CLASS_NAMES,
        figures / "predictions.png",
    )
    paths["confusion"] = save_confusion_matrix(
        np.array(report["confusion_matrix"]), CLASS_NAMES, figures / "confusion_matrix.png",
        title=f"Test set, {report['samples']:,} images, accuracy {report['accuracy']:.4f}",
    )
    paths["mistakes"] = save_mistakes_gallery(
        data.test_images, probs, data.test_labels, CLASS_NAMES, figures / "mistakes.png"
    )
    return paths
