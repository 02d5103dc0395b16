"""Which classifier should the Classification Accuracy Score train? Chosen on validation.

CAS (Ravuri & Vinyals 2019) trains a classifier only on a conditional GAN's images and
tests it on real ones. For each candidate CAS classifier (``--models``), this script
trains it on fresh class-balanced generated draws (``--samples`` per epoch, as
``fashionlab score --cas-fresh``) and measures it on the VALIDATION split (5,000 real
images carved from the training set, seed 0). The best on validation is then trained
once more and measured once on the 10,000 test images, beside the same classifier
trained on as many real training images (the number CAS only means something next to).

    python benchmarks/cas_choice.py RUN --models cnn wrn --best --data-dir DIR

Nothing else is tuned here: each candidate uses ``CASConfig``'s recipe unchanged.
"""

from __future__ import annotations

import argparse
import json
import time

from fashionlab.data import load_fashion_mnist
from fashionlab.metrics.cas import CASConfig, classification_accuracy_score
from fashionlab.score import generator_sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a conditional GAN run folder")
    parser.add_argument("--models", nargs="+", default=["cnn", "wrn"],
                        help="candidate CAS classifiers (registered classifier names)")
    parser.add_argument("--samples", type=int, default=60_000, help="generated images per epoch")
    parser.add_argument("--epochs", type=int, default=CASConfig.epochs)
    parser.add_argument("--best", action="store_true", help="the run's best-FID generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    data = load_fashion_mnist(args.data_dir)
    split = data.split(5000, 0)
    draw = generator_sampler(args.run, args.seed, args.device, args.best)
    generated, generated_labels = draw(args.samples, 1)  # every candidate's first epoch
    results: dict[str, dict] = {"validation": {}}

    def cas(model: str, images, labels, real_baseline: bool) -> dict:
        config = CASConfig(model=model, epochs=args.epochs, seed=args.seed, device=args.device,
                           fresh_each_epoch=True, real_baseline=real_baseline)
        return classification_accuracy_score(
            generated, generated_labels, images, labels, config,
            real_images=data.train_images, real_labels=data.train_labels, sampler=draw)

    print(f"{'CAS classifier':<16} {'validation CAS':>14} {'seconds':>8}", flush=True)
    for model in args.models:
        start = time.perf_counter()
        result = cas(model, split.val_images, split.val_labels, real_baseline=False)
        results["validation"][model] = result["cas"]
        print(f"{model:<16} {result['cas']:>14.4f} {time.perf_counter() - start:>8.1f}",
              flush=True)
    chosen = max(results["validation"], key=results["validation"].get)
    test = cas(chosen, data.test_images, data.test_labels, real_baseline=True)
    results.update(chosen=chosen, test=test)
    print(f"\nchosen on validation: {chosen!r}; test CAS {test['cas']:.4f} "
          f"({args.samples:,} fresh generated images per epoch, {args.epochs} epochs); the "
          f"same classifier trained on {args.samples:,} real training images: "
          f"{test['real_accuracy']:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
