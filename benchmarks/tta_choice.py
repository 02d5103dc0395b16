"""Which test-time averaging? Chosen on the validation split of trained classifier runs.

For each run (and for all of them together, as ``fashionlab evaluate RUN RUN`` averages an
ensemble), the validation accuracy with no averaging, with the mirror image (``--tta-flip``)
and with the mirror image and every copy moved by up to 1 or 2 pixels (``--tta-shift``:
9 or 25 positions, 18 or 50 views). Nothing is retrained and the test set is not read:
the runs must keep a validation split (trained without ``--n-val 0``), the same for all
(same ``--split-seed``, or same ``--seed``).

    python benchmarks/tta_choice.py RUN [RUN ...] --data-dir DIR
"""

from __future__ import annotations

import argparse
import time

import torch

from fashionlab.classifier.predict import load_classifier, predict_proba
from fashionlab.data import load_fashion_mnist

VARIANTS = {  # name -> (flip, shift)
    "none": (False, 0),
    "flip": (True, 0),
    "flip + shift 1": (True, 1),
    "flip + shift 2": (True, 2),
}


def validation_split(trainer: dict) -> tuple[int, int]:
    """(images, seed) of the validation split a run was trained beside, from the
    ``trainer`` part of its config.json (the split seed is the seed unless set apart)."""
    seed = trainer["seed"] if trainer["split_seed"] is None else trainer["split_seed"]
    return trainer["n_val"], seed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="classifier run folders")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    classifiers = [load_classifier(run, "cpu") for run in args.runs]
    splits = {validation_split(c.config["trainer"]) for c in classifiers}
    if len(splits) != 1 or next(iter(splits))[0] == 0:
        raise SystemExit(f"the runs must share one validation split; they have (n_val, seed) "
                         f"{sorted(splits)}")
    n_val, seed = splits.pop()
    split = load_fashion_mnist(args.data_dir).split(n_val, seed)
    labels = split.val_labels

    print(f"validation accuracy on {n_val:,} images (split seed {seed})")
    names = [f"run {i + 1}" for i in range(len(args.runs))]
    print(f"{'averaging':<16} {'views':>5} " + " ".join(f"{n:>7}" for n in names)
          + f" {'together':>8} {'seconds':>7}")
    results = {}
    for variant, (flip, shift) in VARIANTS.items():
        start = time.perf_counter()
        probs = [predict_proba(c.model, split.val_images, c.device, tta_flip=flip,
                               tta_shift=shift) for c in classifiers]
        seconds = time.perf_counter() - start
        accuracies = [float((p.argmax(1) == labels).float().mean()) for p in probs]
        together = float((torch.stack(probs).mean(0).argmax(1) == labels).float().mean())
        views = (2 if flip else 1) * (2 * shift + 1) ** 2
        results[variant] = {"runs": accuracies, "together": together, "seconds": seconds}
        print(f"{variant:<16} {views:>5} " + " ".join(f"{a:>7.4f}" for a in accuracies)
              + f" {together:>8.4f} {seconds:>7.1f}")
    best = max(results, key=lambda v: results[v]["together"])
    print(f"\nbest together on validation: {best}")
    return results


if __name__ == "__main__":
    main()
