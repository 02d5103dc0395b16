"""Precision and recall for generative models with k-nearest-neighbour manifolds.

Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
Models": each set of feature vectors approximates its manifold by the union of balls
around its points, each ball reaching the point's k-th nearest neighbour in its own set.

- precision: the fraction of generated samples inside the real manifold (are the images
  realistic?);
- recall: the fraction of real samples inside the generated manifold (is the variety of
  the data covered?).

Density and coverage (Naeem et al. 2020) come from the same distances at no extra cost:
density counts how many real balls hold each generated sample (divided by k; about 1 when
the two sets match), coverage is the fraction of real balls holding at least one
generated sample (less sensitive to outliers than recall).

Distances are computed in chunks, so 10,000 x 10,000 samples never need the full matrix.
"""

from __future__ import annotations

import torch

from fashionlab.errors import FashionlabError

DEFAULT_K = 3  # the paper's choice


def knn_radii(features: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row of ``features`` (N,)."""
    radii = []
    for start in range(0, len(features), chunk):
        d = torch.cdist(features[start : start + chunk], features)  # (chunk, N)
        # the smallest distance is the point to itself (0), so the k-th neighbour is at k
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


@torch.inference_mode()
def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = DEFAULT_K, chunk: int = 2048
) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` (M, d) against ``real`` (N, d)."""
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise FashionlabError(
            f"real and generated features must be (N, d) with the same d, got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if k < 1:
        raise FashionlabError(f"k (nearest neighbours) must be at least 1, got {k}")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise FashionlabError(
                f"precision/recall with k={k} needs more than {k} {name} samples, got {len(x)}"
            )
    real, fake = real.float().cpu(), fake.float().cpu()
    real_radii = knn_radii(real, k, chunk)  # (N,)
    fake_radii = knn_radii(fake, k, chunk)  # (M,)

    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)
    real_in_fake = torch.zeros(len(real), dtype=torch.bool)
    real_covered = torch.zeros(len(real), dtype=torch.bool)
    density_count = torch.zeros((), dtype=torch.float64)
    for start in range(0, len(fake), chunk):
        stop = min(start + chunk, len(fake))
        d = torch.cdist(fake[start:stop], real)  # (chunk, N)
        inside_real_balls = d <= real_radii[None, :]  # fake j inside the ball of real i
        fake_in_real[start:stop] = inside_real_balls.any(1)
        density_count += inside_real_balls.sum(dtype=torch.float64)
        real_covered |= inside_real_balls.any(0)
        real_in_fake |= (d <= fake_radii[start:stop, None]).any(0)  # real i in a fake ball
    return {
        "precision": float(fake_in_real.float().mean()),
        "recall": float(real_in_fake.float().mean()),
        "density": float(density_count / (k * len(fake))),
        "coverage": float(real_covered.float().mean()),
        "k": k,
    }
