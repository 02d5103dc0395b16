"""Does a generator copy its training images? Nearest training images and MiFID.

For each generated image we find its nearest training image twice: in pixels (Euclidean
distance of the images on [0, 1], 784 values) and in the classifier's features (the
space of FID). A distance alone means little, so it is compared with the distances
between the training images themselves:

- ``near_copy_threshold``: the ``NEAR_COPY_QUANTILE`` (1%) quantile of the distance from
  a training image to its nearest OTHER training image (on a seeded sample of
  ``SELF_QUERIES`` training images, against all of them). A generated image closer than
  that to a training image is closer to it than 99% of the real training images are to
  their own nearest neighbour. Why 1%: a new image drawn from the data distribution (a
  test image, say) falls under this threshold about 1% of the time, so a generator that
  makes new images scores about 0.01 and one that copies scores near 1; the quantile is
  small enough that an honest generator is rarely flagged, and not 0, because
  Fashion-MNIST has near-identical training pictures (``fashionlab audit-data``) that
  would pull a lower quantile down to them. ``docs/metrics.md`` measures the fraction of
  test images flagged with this threshold.
- ``mifid``: MiFID, the memorisation-informed FID of Kaggle's "Generative Dog Images"
  (Bai et al. 2021; torchmetrics' ``MemorizationInformedFrechetInceptionDistance``):
  with f the features and cd(a, b) = 1 - |cos(f_a, f_b)|,
  d = mean over generated images g of min over training images t of cd(g, t),
  d_thr = d if d < epsilon else 1, MiFID = FID / (d_thr + 1e-14).
  Kaggle's epsilon, 0.1 (``KAGGLE_EPSILON``), was set for Inception's 2048 features; in a
  Fashion-MNIST classifier's 128 ReLU features every image is much closer than that in
  cosine to some training image: measured (docs/metrics.md), the 10,000 TEST images
  have d = 0.0057, so that epsilon makes the MiFID of real images 170 times their FID,
  and it penalised a 20-step DCGAN that copies nothing 20 times. So epsilon here follows
  the near-copy rule: the ``NEAR_COPY_QUANTILE`` quantile of cd between a training image
  and its nearest other training image. MiFID then equals FID unless the generated images
  are on average closer to the training set than 99% of the training images are to each
  other. The report also gives the value with Kaggle's epsilon. Unlike torchmetrics,
  which measures d against the FID's own real set, d is measured against the TRAINING
  images, what a generator could copy (the FID's real set is the test set).

Nearest neighbours are scikit-learn's exact brute-force search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from fashionlab.errors import FashionlabError

NEAR_COPY_QUANTILE = 0.01  # of the training images' own nearest-neighbour distances
SELF_QUERIES = 5000  # training images whose nearest other training image sets the threshold
KAGGLE_EPSILON = 0.1  # torchmetrics' cosine_distance_eps, Kaggle's threshold
CLOSEST_PAIRS = 10  # pairs in the figure and the report


def as_points(images: torch.Tensor) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 pixel vectors (N, 784) on [0, 1]."""
    return images.reshape(len(images), -1).float().div(255).numpy()


def nearest(queries: np.ndarray, reference: np.ndarray,
            metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) from each query row to its nearest ``reference`` row, and its index (N,)."""
    search = NearestNeighbors(n_neighbors=1, algorithm="brute", metric=metric).fit(reference)
    distances, indices = search.kneighbors(queries)
    return distances[:, 0], indices[:, 0]


def _signed_units(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, and their opposites below: for unit vectors u, v,
    1 - |cos(u, v)| = min(|u - v|, |u + v|)^2 / 2, a Euclidean nearest-neighbour search."""
    x = x.astype(np.float64)  # near-identical unit vectors: float32 would round d to noise
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.concatenate([unit, -unit])


def cosine_nearest(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """min over reference rows r of 1 - |cos(q, r)|, for each query row q (N,)."""
    distances, _ = nearest(_signed_units(queries)[: len(queries)], _signed_units(reference))
    return distances**2 / 2


def self_nearest(reference: np.ndarray, queries: int | None = None, seed: int = 0,
                 cosine: bool = False) -> np.ndarray:
    """Distance from each of ``queries`` (default ``SELF_QUERIES``) seeded random rows of
    ``reference`` to its nearest OTHER row (a duplicate counts: its distance is 0), in
    Euclidean distance or, with ``cosine``, in 1 - |cos|."""
    queries = SELF_QUERIES if queries is None else queries
    if len(reference) < 2:
        raise FashionlabError(f"a near-copy threshold needs at least 2 training images, got "
                              f"{len(reference)}")
    pick = np.random.default_rng(seed).permutation(len(reference))[:queries]
    points = _signed_units(reference) if cosine else reference  # opposites after the rows
    search = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(points)
    distances, indices = search.kneighbors(points[pick])
    # the first neighbour is the row itself unless an exact duplicate came first: either way
    # the other one of the two is the nearest other row (a duplicate at distance 0)
    other = np.where(indices[:, 0] == pick, distances[:, 1], distances[:, 0])
    return other**2 / 2 if cosine else other


def near_copy_threshold(self_distances: np.ndarray,
                        quantile: float = NEAR_COPY_QUANTILE) -> float:
    """The ``quantile`` of the training images' nearest-other-image distances."""
    if not 0 < quantile < 1:
        raise FashionlabError(f"the near-copy quantile must be between 0 and 1, got {quantile}")
    return float(np.quantile(self_distances, quantile))


def mifid(fid: float, generated: np.ndarray, train: np.ndarray,
          epsilon: float) -> dict[str, Any]:
    """MiFID of ``fid`` from generated and training features (module docstring), with
    ``epsilon`` and with Kaggle's."""
    distance = float(cosine_nearest(generated, train).mean())

    def value(eps: float) -> float:
        return float(fid / ((distance if distance < eps else 1.0) + 1e-14))

    return {"value": value(epsilon), "memorisation_distance": distance, "epsilon": epsilon,
            "penalised": distance < epsilon, "value_at_kaggle_epsilon": value(KAGGLE_EPSILON)}


def _space_report(distances: np.ndarray, self_distances: np.ndarray,
                  quantile: float) -> dict[str, Any]:
    threshold = near_copy_threshold(self_distances, quantile)
    copies = distances <= threshold
    return {
        "mean_nearest": float(distances.mean()),
        "min_nearest": float(distances.min()),
        "median_training_self_distance": float(np.median(self_distances)),
        "threshold": threshold,
        "near_copies": int(copies.sum()),
        "near_copy_fraction": float(copies.mean()),
    }


def memorisation_report(
    generated: torch.Tensor, train: torch.Tensor, generated_features: torch.Tensor,
    train_features: torch.Tensor, fid: float, quantile: float = NEAR_COPY_QUANTILE,
    queries: int | None = None, seed: int = 0,
) -> dict[str, Any]:
    """How close uint8 ``generated`` images (N, 28, 28) are to the ``train`` images, in
    pixels and in features, their near-copy fractions, the ``CLOSEST_PAIRS`` closest
    pairs in pixels and MiFID (see the module docstring)."""
    if len(generated) < 1 or len(train) < 2:
        raise FashionlabError(f"memorisation needs generated images and at least 2 training "
                              f"images, got {len(generated)} and {len(train)}")
    queries = SELF_QUERIES if queries is None else queries
    pixels_g, pixels_t = as_points(generated), as_points(train)
    feats_g = generated_features.detach().float().cpu().numpy()
    feats_t = train_features.detach().float().cpu().numpy()
    pixel_d, pixel_i = nearest(pixels_g, pixels_t)
    feature_d, _ = nearest(feats_g, feats_t)
    report = {
        "training_images": len(train),
        "quantile": quantile,
        "self_queries": min(queries, len(train)),
        "pixels": _space_report(pixel_d, self_nearest(pixels_t, queries, seed), quantile),
        "features": _space_report(feature_d, self_nearest(feats_t, queries, seed), quantile),
    }
    order = np.argsort(pixel_d, kind="stable")[:CLOSEST_PAIRS]
    report["closest_pairs"] = [
        {"generated": int(g), "train": int(pixel_i[g]), "pixel_distance": float(pixel_d[g])}
        for g in order
    ]
    epsilon = near_copy_threshold(self_nearest(feats_t, queries, seed, cosine=True), quantile)
    report["mifid"] = mifid(fid, feats_g, feats_t, epsilon)
    report["mifid"]["epsilon_rule"] = (f"the {quantile:g} quantile of 1 - |cos| from a training "
                                       "image to its nearest other one")
    return report
