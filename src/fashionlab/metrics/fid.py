"""FID and KID between two sets of feature vectors.

We extract the features once (``ClassifierFeatures``): FID, KID and precision/recall
then see exactly the same vectors, the classifier runs once per image, and no Inception
weights are ever downloaded. KID is torchmetrics' ``KernelInceptionDistance``, handed the
features through ``PrecomputedFeatures`` (an identity module with ``num_features``). FID
is computed here, in float64 with symmetric eigenvalues (``frechet_distance``), because
torchmetrics' and scipy's square root of a non-symmetric product turn negative or complex
on few samples (pytorch-fid issues 105 and 117).

``fid_on_subset`` is the cheap version a GAN trainer calls every few epochs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg
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
        self.num_features = num_features  # read by torchmetrics

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


def _stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features (N, d), in float64."""
    x = x.detach().cpu().double().numpy()
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix; the tiny
    negative eigenvalues that rounding gives a singular covariance are clipped to 0."""
    values, vectors = scipy.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between two feature sets (N, d) and (M, d), computed so that it cannot lie.

    FID = |mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^(1/2)), in float64. The
    usual code takes the square root of the non-symmetric product S_r S_f (scipy's
    ``sqrtm``, or torchmetrics' ``eigvals``), which on few samples (a singular covariance)
    returns complex values or a negative FID. Here the trace comes from the symmetric
    product A = S_r^(1/2) S_f S_r^(1/2), which has the same eigenvalues:
    tr((S_r S_f)^(1/2)) = sum of sqrt(eigvalsh(A)), eigenvalues clipped at 0. So the result
    is a real number >= 0 (a rounding error below 0 is reported as 0).

    With fewer samples than feature dimensions the covariances are singular and FID is
    biased upwards: a ``UserWarning`` says so, and such numbers compare only at equal N.
    """
    d = _check_pair(real, fake)
    for name, x in (("real", real), ("generated", fake)):
        if len(x) < 2:
            raise FashionlabError(f"FID needs at least 2 {name} samples, got {len(x)}")
    fewest = min(len(real), len(fake))
    if fewest <= d:
        warnings.warn(
            f"FID from {fewest} samples in {d} feature dimensions: the covariance is singular "
            "(rank < d), so FID is biased upwards; compare it only with FIDs from as many "
            "samples", UserWarning, stacklevel=2)
    mu_r, s_r = _stats(real)
    mu_f, s_f = _stats(fake)
    root = _psd_sqrt(s_r)
    product = root @ s_f @ root
    eigenvalues = scipy.linalg.eigvalsh((product + product.T) / 2)  # symmetric: real
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    fid = float(((mu_r - mu_f) ** 2).sum() + np.trace(s_r) + np.trace(s_f) - 2 * trace_sqrt)
    return max(fid, 0.0)


def kid_interval(mean: float, std: float) -> tuple[float, float]:
    """mean +- 1.96 std: where 95% of the one-subset KID estimates fall (normal approximation).

    torchmetrics reports the spread (std) of the estimates over the random subsets, not
    the error of their mean (the subsets overlap). The interval is therefore wide: it is
    the honest one to read, and it covers 0 when the two sets cannot be told apart at
    this subset size (real against real)."""
    return mean - 1.96 * std, mean + 1.96 * std


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subset_size: int = KID_SUBSET_SIZE,
    subsets: int = KID_SUBSETS,
    seed: int = 0,
) -> dict[str, Any]:
    """KID over ``subsets`` random subsets of ``subset_size``, polynomial kernel.

    Returns the mean and std over the subsets, their 95% ``interval`` (``kid_interval``),
    and the subset size used. A subset larger than either set is lowered to the smaller
    set's size, with a ``UserWarning``, and the result says so (``requested_subset_size``):
    torchmetrics would refuse it.

    Seeded: torchmetrics draws the subsets from the global generator, so it runs inside a
    forked RNG state seeded with ``seed`` and leaves the caller's state untouched.
    """
    from torchmetrics.image.kid import KernelInceptionDistance  # slow import: only when used

    d = _check_pair(real, fake)
    for name, x in (("real", real), ("generated", fake)):
        if len(x) < 2:
            raise FashionlabError(f"KID needs at least 2 {name} samples, got {len(x)}")
    if subset_size < 2:
        raise FashionlabError(f"the KID subset size must be at least 2, got {subset_size}")
    used = min(subset_size, len(real), len(fake))
    if used < subset_size:
        warnings.warn(
            f"the KID subset size {subset_size} is larger than the {len(real)} real and "
            f"{len(fake)} generated samples: KID uses subsets of {used}", UserWarning,
            stacklevel=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(d), subsets=subsets, subset_size=used
        )
    metric.update(real.double().cpu(), real=True)
    metric.update(fake.double().cpu(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = (float(v) for v in metric.compute())
    result = {"mean": mean, "std": std, "interval": list(kid_interval(mean, std)),
              "subset_size": used, "subsets": subsets}
    if used < subset_size:
        result["requested_subset_size"] = subset_size
    return result


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
