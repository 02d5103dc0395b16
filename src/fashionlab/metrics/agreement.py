"""What a strong classifier says about generated images.

- ``class_histogram``: which classes the images are classified as, with the mean
  confidence (for any generator);
- ``class_agreement``: for a conditional generator, how often the classifier agrees with
  the class that was asked for, overall and per requested class.
"""

from __future__ import annotations

from typing import Any

import torch

from fashionlab.data import CLASS_NAMES
from fashionlab.errors import FashionlabError


def _check_probs(probs: torch.Tensor) -> None:
    if probs.dim() != 2 or probs.shape[1] != len(CLASS_NAMES):
        raise FashionlabError(
            f"class probabilities must be (N, {len(CLASS_NAMES)}), got {tuple(probs.shape)}"
        )


def class_histogram(probs: torch.Tensor) -> dict[str, Any]:
    """Counts and fractions of predicted classes, and mean top-1 confidence, from (N, 10)."""
    _check_probs(probs)
    confidence, predicted = probs.max(1)
    counts = torch.bincount(predicted, minlength=len(CLASS_NAMES))
    n = max(len(probs), 1)
    return {
        "samples": len(probs),
        "mean_confidence": float(confidence.mean()) if len(probs) else 0.0,
        "classes": {
            name: {"count": int(counts[c]), "fraction": float(counts[c]) / n}
            for c, name in enumerate(CLASS_NAMES)
        },
    }


def class_agreement(probs: torch.Tensor, requested: torch.Tensor) -> dict[str, Any]:
    """Accuracy of the classifier against the ``requested`` classes, overall and per class.

    ``probs`` (N, 10) are the classifier's probabilities on images generated for the
    classes ``requested`` (N,). Per class: how many were asked for, the fraction
    classified as that class, the mean confidence in it, and the most frequent other
    prediction (where the generator's mistakes go).
    """
    _check_probs(probs)
    requested = torch.as_tensor(requested, dtype=torch.long)
    if requested.shape != (len(probs),):
        raise FashionlabError(
            f"need one requested class per image: {len(probs)} images, "
            f"{tuple(requested.shape)} classes"
        )
    predicted = probs.argmax(1)
    agree = predicted == requested
    per_class = {}
    for c, name in enumerate(CLASS_NAMES):
        mask = requested == c
        n = int(mask.sum())
        if n == 0:
            continue
        wrong = predicted[mask & ~agree]
        confused = None
        if len(wrong):
            other = int(torch.bincount(wrong, minlength=len(CLASS_NAMES)).argmax())
            confused = CLASS_NAMES[other]
        per_class[name] = {
            "requested": n,
            "agreement": float(agree[mask].float().mean()),
            "mean_confidence": float(probs[mask, c].mean()),
            "most_confused_with": confused,
        }
    return {
        "samples": len(probs),
        "agreement": float(agree.float().mean()) if len(probs) else 0.0,
        "per_class": per_class,
    }


def format_agreement(agreement: dict[str, Any], title: str, indent: str = "",
                     digits: int = 3) -> list[str]:
    """Text lines of a ``class_agreement`` result: the overall figure, then one row per class."""
    width = digits + 3
    lines = [f"{title}: {agreement['agreement']:.{digits}f}",
             f"{indent}{'class':<12} {'asked':>6} {'agree':>{width}} {'conf':>6}  "
             "most confused with"]
    for name, row in agreement["per_class"].items():
        lines.append(f"{indent}{name:<12} {row['requested']:>6} "
                     f"{row['agreement']:>{width}.{digits}f} {row['mean_confidence']:>6.3f}  "
                     f"{row['most_confused_with'] or '-'}")
    return lines
