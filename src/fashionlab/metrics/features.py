"""The feature space of the GAN metrics: a project classifier's penultimate activations.

FID, KID and precision/recall are distances between sets of feature vectors. The
usual feature network, Inception v3, was trained on ImageNet photographs and must be
downloaded; here the features come from a Fashion-MNIST classifier trained by this
project (any registered classifier: they all expose ``features(x) -> (B, feature_dim)``).
The numbers are therefore NOT Inception-FID numbers, and every result says so
(``NOT_INCEPTION``) together with the feature network that made it (``describe()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fashionlab.data import normalize
from fashionlab.data.batches import EVAL_BATCH_SIZE
from fashionlab.errors import FashionlabError

NOT_INCEPTION = (
    "These are NOT Inception-FID/KID numbers: they are computed in the penultimate features "
    "of a Fashion-MNIST classifier trained by fashionlab, and are comparable only with numbers "
    "made with the same feature network and the same sample counts."
)


def as_uint8_images(images: Any, what: str = "images") -> torch.Tensor:
    """Check and return ``images`` as a uint8 tensor (N, 28, 28); (N, 1, 28, 28) is squeezed.

    Accepts a torch tensor or a NumPy array; anything else is a ``FashionlabError``.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise FashionlabError(
            f"{what} must be a uint8 array (N, 28, 28), got {type(images).__name__}"
        )
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dtype != torch.uint8 or images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        raise FashionlabError(
            f"{what} must be uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"{tuple(images.shape)}; convert generator output with fashionlab.data.from_tanh_range"
        )
    return images


class ClassifierFeatures(nn.Module):
    """uint8 images (N, 28, 28) -> penultimate features (N, feature_dim) of a classifier.

    Usable as torchmetrics' custom ``feature`` module: it has ``num_features`` and returns
    an (N, d) float tensor on the device of its input. It never leaves eval mode and never
    takes gradients. ``describe()`` records which network it is.

    Parameters
    ----------
    model : nn.Module
        A classifier with ``features(x)`` and ``feature_dim`` (every registered one has them).
    source : dict
        Where the model comes from, recorded in every result, e.g. ``{"run": ..., "model": ...}``.
    batch_size : int
        Images per forward pass.
    """

    def __init__(self, model: nn.Module, source: dict[str, Any], batch_size: int = EVAL_BATCH_SIZE):
        super().__init__()
        if not hasattr(model, "features") or not hasattr(model, "feature_dim"):
            raise FashionlabError(
                f"the classifier {source.get('model', type(model).__name__)!r} has no features(): "
                "choose a registered fashionlab classifier as the feature network"
            )
        self.model = model.eval().requires_grad_(False)
        self.num_features = int(model.feature_dim)  # read by torchmetrics
        self.source = dict(source)
        self.batch_size = batch_size
        self.train(False)

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # a feature network never goes back to training mode

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = as_uint8_images(images)
        out = []
        for start in range(0, len(images), self.batch_size):
            x = normalize(images[start : start + self.batch_size].to(self.device)).unsqueeze(1)
            out.append(self.model.features(x).float())  # (B, d)
        if not out:
            return torch.empty(0, self.num_features, device=images.device)
        return torch.cat(out).to(images.device)

    def describe(self) -> dict[str, Any]:
        """The feature network as recorded in every metric result."""
        return {**self.source, "feature_dim": self.num_features, "layer": "penultimate"}


def load_feature_network(
    run_dir: str | Path, device: str = "auto", batch_size: int = EVAL_BATCH_SIZE
) -> ClassifierFeatures:
    """The penultimate features of the classifier trained in ``run_dir``.

    A run that is not a classifier run is a ``FashionlabError``.
    """
    from fashionlab.classifier.predict import load_classifier

    loaded = load_classifier(run_dir, device)
    source = {"run": str(run_dir), "model": loaded.config["model"]}
    return ClassifierFeatures(loaded.model, source, batch_size)
