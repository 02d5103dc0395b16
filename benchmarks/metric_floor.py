"""The floor of ``fashionlab score``: its metrics for real images against real images.

The 10,000 test images play a perfect generator (new images from the data distribution)
and are scored, by ``score_images`` (the code, feature network, KID subsets and k of
``fashionlab score``), against a seeded draw of 10,000 training images; memorisation is
measured against all 60,000 training images, as for a GAN. The FID printed is the
smallest a generator can hope for at these sample counts; the near-copy fraction is
what new images score (about the threshold's quantile, 1%). docs/metrics.md quotes it.

    python benchmarks/metric_floor.py --classifier CLASSIFIER_RUN --data-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from fashionlab.data import FashionMNIST, load_fashion_mnist
from fashionlab.errors import FashionlabError
from fashionlab.gan.score import format_score, score_images
from fashionlab.metrics.features import ClassifierFeatures, load_feature_network


def real_against_real(features: ClassifierFeatures, data: FashionMNIST, n: int = 10_000,
                      seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Score ``n`` test images against ``n`` seeded training images (``kwargs``: more
    ``score_images`` arguments, e.g. the KID subset size), memorisation against all the
    training images."""
    real, _ = data.pick("train", n, seed)
    report = score_images(data.test_images[:n], real, features, seed=seed,
                          train=data.train_images, **kwargs)
    report["samples"]["real_source"] = f"{len(real):,} training images (seed {seed})"
    report["samples"]["generated_source"] = f"the first {min(n, len(data.test_images)):,} " \
        "test images"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classifier", required=True, help="classifier run: the features")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=10_000, help="images on each side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        features = load_feature_network(args.classifier, args.device)
        report = real_against_real(features, load_fashion_mnist(args.data_dir), args.n,
                                   args.seed)
    except FashionlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_score(report))
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
