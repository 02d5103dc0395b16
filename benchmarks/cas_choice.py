"""Which CAS classifier, and which noise scale of the generator? Chosen on validation.

CAS (Ravuri & Vinyals 2019) trains a classifier only on a conditional GAN's images and
tests it on real ones. For each candidate CAS classifier (``--models``) and each candidate
noise scale of the generator (``--noise-scales``: its input noise drawn as N(0, s^2 I),
1.0 = as in training, above 1 = more variety, less fidelity), this script trains the
classifier on fresh class-balanced generated draws (``--samples`` per epoch, as
``fashionlab score --cas-fresh --noise-scale s``) and measures it on the VALIDATION split
(5,000 real images carved from the training set, seed 0). The best pair on validation is
then trained once more and measured once on the 10,000 test images (``--test-samples``
per epoch), beside the same classifier at noise scale 1.0 (when 1.0 was not chosen) and,
unless ``--no-real-baseline``, the same classifier trained on as many real training images
(the number CAS only means something next to).

    python benchmarks/cas_choice.py RUN --models cnn wrn --best --data-dir DIR
    python benchmarks/cas_choice.py RUN --models cnn --noise-scales 1.0 1.2 1.4 1.6 --best \
        --samples 20000 --test-samples 60000 --threads 1

Nothing else is tuned here: each candidate uses ``CASConfig``'s recipe unchanged. Every
candidate's first epoch at one noise scale trains on the same draw (seed + 1); the draws
of all scales come from the same seeded N(0, I) noise, only scaled.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fashionlab.data import load_fashion_mnist
from fashionlab.errors import FashionlabError
from fashionlab.gan.generate import check_noise_scale
from fashionlab.gan.score import generator_sampler
from fashionlab.metrics.cas import CASConfig, classification_accuracy_score


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a conditional GAN run folder")
    parser.add_argument("--models", nargs="+", default=["cnn", "wrn"],
                        help="candidate CAS classifiers (registered classifier names)")
    parser.add_argument("--noise-scales", nargs="+", type=float, default=[1.0], metavar="S",
                        help="candidate noise scales of the generator (1.0 = as in training)")
    parser.add_argument("--samples", type=int, default=60_000,
                        help="generated images per epoch for the validation choice")
    parser.add_argument("--test-samples", type=int, default=None,
                        help="generated images per epoch for the test run (default: --samples)")
    parser.add_argument("--epochs", type=int, default=CASConfig.epochs)
    parser.add_argument("--best", action="store_true", help="the run's best-FID generator")
    parser.add_argument("--no-real-baseline", action="store_true",
                        help="skip training the chosen classifier on real images for comparison")
    parser.add_argument("--validation-only", action="store_true",
                        help="stop after the choice (measure it later, e.g. with `fashionlab "
                        "score --noise-scale S --cas-fresh --cas-samples N`)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        scales = [check_noise_scale(s) for s in args.noise_scales]
    except FashionlabError as error:
        parser.error(str(error))
    test_samples = args.test_samples or args.samples
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_fashion_mnist(args.data_dir)
    split = data.split(5000, 0)
    draws = {s: generator_sampler(args.run, args.seed, args.device, args.best, s) for s in scales}
    first: dict[tuple[float, int], tuple] = {}  # (scale, n) -> every candidate's first epoch

    def cas(model: str, scale: float, n: int, images, labels, real_baseline: bool) -> dict:
        if (scale, n) not in first:
            first[(scale, n)] = draws[scale](n, 1)
        config = CASConfig(model=model, epochs=args.epochs, seed=args.seed, device=args.device,
                           fresh_each_epoch=True, real_baseline=real_baseline)
        return classification_accuracy_score(
            *first[(scale, n)], images, labels, config,
            real_images=data.train_images, real_labels=data.train_labels, sampler=draws[scale])

    results: dict = {"run": args.run, "best": args.best, "seed": args.seed,
                     "epochs": args.epochs, "samples": args.samples,
                     "test_samples": test_samples, "validation": []}
    print(f"validation: {args.samples:,} fresh generated images per epoch, {args.epochs} epochs")
    print(f"{'CAS classifier':<16} {'noise scale':>11} {'validation CAS':>14} {'seconds':>8}",
          flush=True)
    for model in args.models:
        for scale in scales:
            start = time.perf_counter()
            result = cas(model, scale, args.samples, split.val_images, split.val_labels, False)
            row = {"model": model, "noise_scale": scale, "cas": result["cas"],
                   "seconds": round(time.perf_counter() - start, 1)}
            results["validation"].append(row)
            print(f"{model:<16} {scale:>11g} {row['cas']:>14.4f} {row['seconds']:>8.1f}",
                  flush=True)
    chosen = max(results["validation"], key=lambda row: row["cas"])
    model, scale = chosen["model"], chosen["noise_scale"]
    results["chosen"] = {"model": model, "noise_scale": scale}
    first.clear()  # the test run's draws may be larger

    print(f"\nchosen on validation: {model!r} at noise scale {scale:g}", flush=True)
    results["test"] = {}
    if not args.validation_only:
        print(f"test set, {test_samples:,} fresh generated images per epoch, {args.epochs} "
              "epochs:", flush=True)
    for s in [] if args.validation_only else [scale] + ([1.0] if scale != 1.0 else []):
        if s not in draws:
            draws[s] = generator_sampler(args.run, args.seed, args.device, args.best, s)
        start = time.perf_counter()
        real = not args.no_real_baseline and s == scale
        test = cas(model, s, test_samples, data.test_images, data.test_labels, real)
        results["test"][str(s)] = test
        what = "chosen" if s == scale else "reference, not chosen"
        line = (f"{model} at noise scale {s:g} ({what}): test CAS {test['cas']:.4f} "
                f"({time.perf_counter() - start:.0f} s)")
        if "real_accuracy" in test:
            line += (f"; the same classifier trained on {test_samples:,} real training images: "
                     f"{test['real_accuracy']:.4f}")
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
