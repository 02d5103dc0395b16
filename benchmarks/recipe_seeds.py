"""A named classifier recipe on several seeds: each run's test accuracy, and their median.

The recipe is exactly what ``fashionlab train classifier --recipe NAME --seed S`` trains
(``fashionlab.classifier.recipes``): nothing is chosen here, so the test set is only
read to report. ``--n-val 0`` (the default) trains on all 60,000 training images, as the
recipe's final runs do once it was chosen on the validation split. Issue 25's target for
``five-minute``: median test accuracy over three seeds >= 0.940, each run within 5
minutes of training on the 2-core CPU; the runs' wall-clock and CPU seconds of training
are printed beside their accuracy.

    python benchmarks/recipe_seeds.py --recipe five-minute --seeds 0 1 2 --data-dir DIR

``--parallel 2`` trains two seeds at once (the recipe trains on one thread: on an idle
2-core machine each keeps a core); ``--budget`` replaces the recipe's time budget
(``--budget 5 --steps 20 --test-subset 500`` is a dry run of the pipeline, not a
measurement).
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from fashionlab.classifier.recipes import RECIPES
from fashionlab.classifier.train import train_classifier
from fashionlab.runtime.threads import load_average


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=list(RECIPES), default="five-minute")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/recipe-seeds", help="run folders (one per seed)")
    parser.add_argument("--n-val", type=int, default=0,
                        help="validation images carved out (0: train on all 60,000)")
    parser.add_argument("--parallel", type=int, default=1, help="seeds trained at once")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of training per run (default: the recipe's)")
    parser.add_argument("--steps", type=int, default=None,
                        help="cap on the steps of an epoch (dry runs)")
    parser.add_argument("--test-subset", type=int, default=None,
                        help="score only the first N test images (dry runs)")
    args = parser.parse_args()
    recipe = RECIPES[args.recipe]
    base = recipe.config(data_dir=args.data_dir, n_val=args.n_val, figures=False)
    if args.budget is not None:
        base = replace(base, time_budget=args.budget)
    if args.steps is not None:
        base = replace(base, steps_per_epoch=args.steps)
    if args.test_subset is not None:
        base = replace(base, test_subset=args.test_subset)
    configs = [replace(base, seed=seed, out=str(Path(args.out) / f"seed{seed}"))
               for seed in args.seeds]
    print(f"load average at start: {load_average()}; recipe {args.recipe!r}: {recipe.about}; "
          f"{len(configs)} seeds, {args.parallel} at a time", flush=True)
    with ProcessPoolExecutor(args.parallel, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(train_classifier, configs))
    print(f"load average at the end: {load_average()}")
    print(f"{'seed':>4} {'epochs':>6} {'train s':>8} {'CPU s':>7} {'test acc':>8}")
    for config, result in zip(configs, results, strict=True):
        last = result.history[-1]
        print(f"{config.seed:>4} {len(result.history):>6} {last['train_seconds']:>8.0f} "
              f"{last['train_cpu_seconds']:>7.0f} {result.test_accuracy:>8.4f}")
    tests = [result.test_accuracy for result in results]
    print(f"median test accuracy over {len(tests)} seeds: {statistics.median(tests):.4f} "
          f"({result.n_test:,} test images each; run folders under {args.out})")


if __name__ == "__main__":
    main()
