"""FID and KID between two sets of feature vectors, computed by torchmetrics.

torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` take a custom
``feature`` module. We extract the features once (``ClassifierFeatures``) and hand them
to the metrics through ``PrecomputedFeatures``, an identity module with
``num_features``: FID, KID and precision/recall then see exactly the same vectors, the
classifier runs once per image, and no Inception weights are ever downloaded.

``fid_on_subset`` is the cheap version a GAN trainer calls every few epochs.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from fashionlab.errors import FashionlabError
from fashionlab.metrics.features import ClassifierFeatures

KID_SUBSET_SIZE = 1000  # torchmetrics' default subset size, as in Binkowski et al. 2018
KID_SUBSETS = 100  # torchmetrics' default number of subsets


class PrecomputedFeatures(nn.Module):
    """Identity feature module for torchmetrics: the 'images' it receives are features (N, d)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # read by FrechetInceptionDistance

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"expected features (N, {self.num_features}), got {tuple(features.shape)}"
            )
        return features


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> int:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise FashionlabError(
            f"real and generated features must be (N, d) with the same d, got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    return int(real.shape[1])


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, chunk: int = 4096) -> float:
    """FID between two feature sets (N, d) and (M, d), in float64 by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance  # slow import: only when used

    d = _check_pair(real, fake)
    for name, x in (("real", real), ("generated", fake)):
        if len(x) < 2:
            raise FashionlabError(f"FID needs at least 2 {name} samples, got {len(x)}")
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(d)).set_dtype(torch.float64)
    for start in range(0, len(real), chunk):
        metric.update(real[start : start + chunk].double().cpu(), real=True)
    for start in range(0, len(fake), chunk):
        metric.update(fake[start : start + chunk].double().cpu(), real=False)
    return float(metric.compute())


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subset_size: int = KID_SUBSET_SIZE,
    subsets: int = KID_SUBSETS,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over ``subsets`` random subsets of ``subset_size``), polynomial kernel.

    Seeded: torchmetrics draws the subsets from the global generator, so it runs inside a
    forked RNG state seeded with ``seed`` and leaves the caller's state untouched.
    """
    from torchmetrics.image.kid import KernelInceptionDistance  # slow import: only when used

    d = _check_pair(real, fake)
    if subset_size < 2:
        raise FashionlabError(f"the KID subset size must be at least 2, got {subset_size}")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) < subset_size:
            raise FashionlabError(
                f"KID needs at least {subset_size} {name} samples (its subset size), got "
                f"{len(x)}: generate more images or lower the KID subset size"
            )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(d), subsets=subsets, subset_size=subset_size
        )
    metric.update(real.double().cpu(), real=True)
    metric.update(fake.double().cpu(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


@torch.inference_mode()
def fid_on_subset(
    generated: torch.Tensor, reference: torch.Tensor, features: ClassifierFeatures
) -> float:
    """FID of uint8 ``generated`` images (N, 28, 28) against precomputed ``reference`` features.

    For monitoring during GAN training. Compute ``reference = features(real_images)`` once,
    from held-out TRAINING images (e.g. the validation split, never the test set: the best
    epoch is chosen with this number), then call this every few epochs with a few thousand
    generated images. A small N biases FID upwards: compare values only at equal N.
    """
    return frechet_distance(reference, features(generated))
