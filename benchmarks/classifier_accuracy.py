"""Classifier accuracy recipes, chosen on the validation split, test accuracy reported once.

``--recipe five-minute`` (issue 4: >= 93.5% test accuracy within 5 minutes of training
on this 2-core CPU): trains each candidate below with ``time_budget=300`` seconds of
training on ONE thread (per member of an ensemble candidate: one per core), counted in the
process's CPU seconds (``budget_clock="cpu"``):
on a machine shared with other jobs, wall-clock time measures the other jobs, while
300 CPU seconds on one thread is what the run takes alone on one of the two cores
(a conservative stand-in for 5 minutes on the idle machine). The one-cycle schedule
follows that clock. The script prints every candidate's
validation accuracy (5,000 images carved from the training set), picks the best on
validation, and only then prints that one's test accuracy (10,000 test images).

``--recipe best``: one long run of the strongest recipe (budget ``--budget`` seconds),
printing validation and test accuracy. ``--recipe gpu``: the same recipe on wide ResNets
for a GPU (``GPU_CANDIDATES``; 330 s of wall-clock training each by default). On an H200,
``--only wrn-16-8 --budget 290`` beside four other jobs: validation 0.9586, test 0.9578
(2026-11-27); ``--only "4 x wrn-16-8" --budget 400`` (``gpu_session.sh stretch``): members
0.9576, 0.9580, 0.9558, 0.9586 on validation, the four averaged 0.9616, test 0.9598
(2026-11-28).

Measured (``--only "narrow crop+flip" "batch 256"``, load ~3): narrow ``cnn`` (widths
24/48/96) 11 epochs, validation 0.9314; batch 256 8 epochs, validation 0.9272; chosen:
narrow, test 0.9282.

``pool_first`` (the cnn pools before BatchNorm and ReLU, which are memory-bound here),
rounds of ``--only`` on a machine shared with two one-thread jobs (load 2-6; a busy or
slow phase of the VM gives fewer epochs, so compare rows of one round), validation
accuracy and epochs:

    round 1: narrow crop+flip 0.9326 (12), narrow pool-first crop+flip 0.9378 (14),
             pool-first crop+flip (32/64/128) 0.9316 (9)
    round 2: narrow pool-first batch 64 (lr 0.05) 0.9288 (9), pool-first 32/64/96 0.9308 (9)
    round 3: pool-first 16/32/64 0.9302 (16), pool-first 20/40/80 0.9312 (11)
    round 4: narrow pool-first smoothing 0.2 0.9360 (12); a space-to-depth stem (2x2 pixel
             unshuffle, then the narrow pool-first body at 14x14) 0.9302 (13), not kept

(The script also prints each round's chosen test accuracy: 0.9321, 0.9286, 0.9246 and
0.9293 in rounds 1-4; no choice used them.)

Then the three best on the idle machine (load ~1): ``--only "narrow crop+flip" "narrow
pool-first crop+flip" "narrow pool-first smoothing 0.2"``: 0.9294 (9 epochs), 0.9322
(11), 0.9318 (12); chosen: narrow pool-first, test 0.9300 after 302 s of training
(302 CPU s: one thread, so the wall clock and the CPU clock agree on the idle machine).
The VM ran slower than in round 1 (9 epochs of the narrow cnn in 300 s instead of 12).

Progressive resizing, tried and not kept (session 6, one thread, a one-thread job on the
other core): training batches resized to 20x20 (bilinear, antialiased) for the first half
of the 300 CPU s, then 28x28, by a throwaway patch of ``train_step`` around the narrow
pool-first candidate. A training step at 20x20 is 1.46x faster in isolation (3535 against
2415 images per CPU s, random data), but epochs took 15-24 s instead of 24-31 s, so the
run fitted 13 epochs instead of 11, and the validation accuracy moved within its noise:
0.9340 against 0.9332 for the unchanged candidate run just after it. Removing BatchNorm
would make a step 1.21x faster in isolation (2928 images per CPU s); not tried in training.
Holding the whole model in bfloat16 (no autocast) made a step 1.2x faster in isolation
(2228 / 2595 against 1739 / 2127 images per CPU s, two interleaved rounds); not tried
in training either: the weights would need float32 master copies to keep the small
updates, and 1.2x more epochs is about what progressive resizing gave above.
Test-time shifts, also not kept: on the validation split, the narrow crop+flip run of the
first table scored 0.9300 with no averaging, 0.9314 with the flip (the recipe), and
0.9318 / 0.9304 / 0.9324 averaging 10 views (flip x the image and its four 1-pixel
shifts / four diagonal 1-pixel shifts / four 2-pixel shifts): within the noise, for 5x
the prediction cost. Later (session 12), on the chosen pair (pool-first, grid 3), every
1-pixel shift (``--tta-shift 1``, 18 views) did help on validation, in two pairs:
``benchmarks/tta_choice.py``, numbers in docs/classifiers.md; the five-minute command now uses it.

A grid head (session 7): the narrow pool-first ``cnn`` averaged its last 7x7 maps to one
value per channel before the linear layer. ``head_grid`` keeps a g x g grid of them (3: 3x3
cells, 7: every position; the linear layer grows from 96 to 864 or 4,704 inputs; one
training step of batch 128 ran at 1198, 1119 and 1261 images per CPU s for grids 1, 3
and 7, the other core busy: within the noise). To compare accuracy per epoch while the other core
ran a benchmark (which halves this one's speed, whatever the CPU clock says), the
candidates trained exactly 12 epochs (what the narrow pool-first ``cnn`` fits in 300 s on
the idle machine; ``--epochs 12`` does this now; these runs used a scratch copy of the
model before the option existed), two seeds (the seed also draws the validation split):

    candidate (12 epochs)                      seed 0   seed 1
    narrow pool-first (global average)         0.9340*  0.9400
    grid 3                                     0.9370   0.9402
    grid 7                                     0.9370   0.9448
    grid 7, dropout 0.3 before the head        0.9324     -
    grid 7, label smoothing 0.2                0.9354   0.9426
    grid 7, peak learning rate 0.2             0.9372   0.9416

(* a 300-CPU-s run that also reached 12 epochs, load ~2.) Every grid-7 variant of the
recipe scored lower than grid 7 with the recipe unchanged, so the five-minute candidates
gained ``narrow pool-first grid 3`` and ``narrow pool-first grid 7`` only. Then the
five-minute rule itself, ``--only "narrow pool-first crop+flip" "narrow pool-first grid 3"
"narrow pool-first grid 7"`` (300 CPU s each, one thread, the other core running a
one-thread benchmark, load ~2): 0.9334 (12 epochs), 0.9366 (12) and 0.9318 (11); chosen
on validation: grid 3, **test 0.9336** after 303 s (302 CPU s) of training, up from 0.9300
but still short of 0.935.

Session 8. ``--refit``: after the choice, the chosen recipe trains again on all 60,000
training images (no validation split), and only that model's test accuracy is printed, as
scikit-learn's ``GridSearchCV(refit=True)`` does; the choice itself is unchanged. Its first
run, ``--only "narrow pool-first grid 3" "narrow pool-first grid 7" --refit`` (one thread,
300 CPU s each, the other core running a one-thread imputation benchmark, load ~2):
validation 0.9358 (11 epochs) and 0.9268 (9); chosen: grid 3; the refit (12 epochs of
60,000 images) **test 0.9346**, still 0.04 points short.

What more epochs would give: ``--epochs 16 --only "narrow pool-first grid 3"`` (no time
budget, 445 CPU s): validation 0.9400 against 0.9370 at 12 epochs (the script also printed
test 0.9352; not a five-minute result, and no choice used it). A step faster by a third
would be worth about that, but none was found: in interleaved rounds of one step (batch
128, random data, the other core busy) the model held in bfloat16 with float32 master
weights ran at 2390 / 2307 / 2030 / 1999 images per CPU s against 2354 / 2512 / 2054 / 2301
for the autocast step (the 1.2x of session 6 did not come back), and average pooling
instead of the adaptive pool of the grid head, or a contiguous copy before it, moved the
median step within the noise (2079 autocast now, 1963-2258 for the variants). The
profiler puts ~40% of a step in convolution backward passes.

``2 x narrow pool-first grid 3`` (an ``Ensemble``): the 2-core CPU runs two one-thread
trainings at once, one per core, with seeds 0 and 1 on the validation split of seed 0, and
they predict with the mean of their probabilities (``fashionlab evaluate RUN RUN``). A
scratch check first (two members, seeds 1 and 2, 300 CPU s each, trained together beside
the one-thread benchmark): validation 0.9336 and 0.9360 alone, 0.9368 together; with the
seed-0 run above (0.9358), pairs 0.9372 and 0.9360. The five-minute rule with it,
``--only "narrow pool-first grid 3" "2 x narrow pool-first grid 3" --refit`` (each member
300 CPU s on one thread; the other core ran a one-thread imputation benchmark, so the two
members shared one core and their wall clock doubled): validation 0.9372 (12 epochs) and
**0.9382** (12 + 12); chosen on validation: the ensemble; its refit on 60,000 images (10 +
11 epochs, 302 CPU s each) **test 0.9359**: the 93.5% target is met when each member has
a core of its own for its 300 s, that is, if two trainings at once on the idle machine
each keep the speed of one alone. They do: on the idle machine (load ~0.7), 90 s of
wall-clock training of this ``cnn`` (a scratch script around ``train_classifier``, one
thread) ran at 2396 and 2400 images per second alone (before and after), and at 2390 and
2276 for two started together; so the two members' 2 x 300 CPU s fit in 5 wall-clock
minutes of the 2-core machine. (The refit members above managed about 2,100 images per
CPU s beside the other job: on the idle machine they would have had a little more time.)

Session 10 (2026-11-28), a faster VM: ``lscpu`` shows an AMD EPYC of family 26 (Zen 5,
AVX-512 with bf16), and the narrow pool-first grid-3 ``cnn`` trained an epoch of 55,000
images in about 16 CPU s instead of the 24-31 s of earlier sessions, so 300 CPU s held
18-19 epochs. ``--only "narrow pool-first grid 3" "2 x narrow pool-first grid 3" "2 x
pool-first grid 3" --refit`` (the last is new: the default widths 32/64/128 with
pool-first and the grid head, which the extra speed might favour; idle machine):
validation 0.9390 (19 epochs), **0.9424** (18 + 18; members 0.9426, 0.9388) and 0.9412
(12 + 12; members 0.9406, 0.9398); chosen: the narrow pair; its refit (16 + 17 epochs of
60,000 images, 306 s, 304 CPU s) **test 0.9388**.

Older note: a second thread or a second torchrun process barely speeds ONE CNN up (29.1 s
and 28.6 s per epoch against ~27 CPU s on one thread), so one thread with 300 CPU seconds is
close to 5 wall-clock minutes here.

Run with ``nice``; the machine is shared, so the load average is printed, and a busy
machine trains fewer epochs within a time budget:

    nice -n 10 python benchmarks/classifier_accuracy.py --recipe five-minute --data-dir DIR
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from fashionlab.classifier import recipes as recipe
from fashionlab.classifier.predict import ensemble_proba, load_classifier
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.data import load_fashion_mnist

# The shared part of the CNN recipes (the library's CNN_RECIPE: SGD + Nesterov, one-cycle,
# label smoothing, crops and flips on tensors, an EMA of the weights and test-time flip
# averaging), on one thread for 300 CPU seconds.
CNN_RECIPE = ClassifierConfig(
    model="cnn", **recipe.CNN_RECIPE, figures=False, epochs=100, time_budget=300,
    budget_clock="cpu", threads=1,
)

@dataclass(frozen=True)
class Ensemble:
    """``members`` runs of ``config`` trained at the same time, one process (one core) each,
    seeded ``seed``, ``seed + 1``, ... on the validation split of ``seed``; they predict
    together with the mean of their probabilities (``fashionlab evaluate RUN RUN ...``)."""

    config: ClassifierConfig
    members: int


FIVE_MINUTE_CANDIDATES = {
    "crop+flip": CNN_RECIPE,
    "crop+flip+erasing": replace(CNN_RECIPE, erasing=0.5),
    "narrow crop+flip": replace(CNN_RECIPE, model_args={"widths": [24, 48, 96]}),
    "narrow crop+flip+erasing": replace(CNN_RECIPE, model_args={"widths": [24, 48, 96]},
                                        erasing=0.5),
    "batch 256": replace(CNN_RECIPE, batch_size=256, lr=0.2),
    "narrow pool-first crop+flip": replace(
        CNN_RECIPE, model_args={"widths": [24, 48, 96], "pool_first": True}),
    "pool-first crop+flip": replace(CNN_RECIPE, model_args={"pool_first": True}),
    "narrow pool-first batch 64": replace(
        CNN_RECIPE, model_args={"widths": [24, 48, 96], "pool_first": True}, batch_size=64,
        lr=0.05),
    "pool-first 32/64/96": replace(
        CNN_RECIPE, model_args={"widths": [32, 64, 96], "pool_first": True}),
    "pool-first 16/32/64": replace(
        CNN_RECIPE, model_args={"widths": [16, 32, 64], "pool_first": True}),
    "pool-first 20/40/80": replace(
        CNN_RECIPE, model_args={"widths": [20, 40, 80], "pool_first": True}),
    "narrow pool-first smoothing 0.2": replace(
        CNN_RECIPE, model_args={"widths": [24, 48, 96], "pool_first": True},
        label_smoothing=0.2),
    "narrow pool-first grid 3": replace(CNN_RECIPE, model_args=recipe.FIVE_MINUTE_CNN),
    "narrow pool-first grid 7": replace(
        CNN_RECIPE, model_args={"widths": [24, 48, 96], "pool_first": True, "head_grid": 7}),
}
# Two of them at once, one per core of the 2-core CPU, predicting together.
FIVE_MINUTE_CANDIDATES["2 x narrow pool-first grid 3"] = Ensemble(
    FIVE_MINUTE_CANDIDATES["narrow pool-first grid 3"], members=2)
FIVE_MINUTE_CANDIDATES["pool-first grid 3"] = replace(
    CNN_RECIPE, model_args={"pool_first": True, "head_grid": 3})
FIVE_MINUTE_CANDIDATES["2 x pool-first grid 3"] = Ensemble(
    FIVE_MINUTE_CANDIDATES["pool-first grid 3"], members=2)

BEST = replace(CNN_RECIPE, erasing=0.5, warmup_epochs=2, epochs=60, time_budget=4500,
               budget_clock="wall", threads=1, figures=True)

# The GPU run of the best recipe: the CPU recipe's settings (chosen on validation with the
# cnn) on wide ResNets, batch 256 (peak lr scaled with it), random erasing as in Zhong et
# al.'s wide-ResNet results. The wall-clock budget ends the one-cycle schedule; epochs is
# only a cap far above what the budget allows, so the schedule always reaches zero.
GPU_RECIPE = replace(BEST, model="wrn", batch_size=256, lr=0.2, warmup_epochs=5, epochs=1000,
                     time_budget=330, threads=4)
GPU_CANDIDATES = {
    "wrn-16-4": GPU_RECIPE,
    "wrn-16-8": replace(GPU_RECIPE, model_args={"widths": [128, 256, 512]}),
}
# Several at once on the one GPU (a single run leaves it room: see docs/gpu.md), predicting
# together: the 96.5% stretch. Four for 400 s: validation 0.9616 (2026-11-28); two get
# more epochs each in the same time (one call of the GPU session holds one such run).
GPU_CANDIDATES["4 x wrn-16-8"] = Ensemble(GPU_CANDIDATES["wrn-16-8"], members=4)
GPU_CANDIDATES["2 x wrn-16-8"] = Ensemble(GPU_CANDIDATES["wrn-16-8"], members=2)


@dataclass
class Outcome:
    """What the table prints of a candidate, and the test accuracy kept for the end."""

    epochs: str
    train_seconds: float
    cpu_seconds: float
    val_accuracy: float
    test_accuracy: float
    run_dir: str


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def train_ensemble(ensemble: Ensemble, common: dict, out: Path) -> Outcome:
    config = replace(ensemble.config, **common)
    configs = [replace(config, seed=config.seed + k, split_seed=config.seed,
                       out=str(out / f"member{k}")) for k in range(ensemble.members)]
    with ProcessPoolExecutor(ensemble.members, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(train_classifier, configs))
    members = [load_classifier(c.out, config.device) for c in configs]
    data = load_fashion_mnist(config.data_dir)
    split = data.split(config.n_val, config.seed)

    def accuracy(images, labels) -> float:
        if not len(images):
            return float("nan")
        return (ensemble_proba(members, images).argmax(1) == labels).float().mean().item()

    for k, result in enumerate(results):
        print(f"  member {k} (seed {configs[k].seed}): {len(result.history)} epochs, "
              f"validation {result.val_accuracy:.4f}", flush=True)
    lasts = [r.history[-1] for r in results]
    return Outcome("+".join(str(len(r.history)) for r in results),
                   max(last["train_seconds"] for last in lasts),
                   max(last["train_cpu_seconds"] for last in lasts),
                   accuracy(split.val_images, split.val_labels),
                   accuracy(data.test_images, data.test_labels), str(out))


def run(name: str, candidate: ClassifierConfig | Ensemble, common: dict, out: Path) -> Outcome:
    start = time.perf_counter()
    folder = out / name.replace(" ", "_")
    if isinstance(candidate, Ensemble):
        outcome = train_ensemble(candidate, common, folder)
    else:
        result = train_classifier(replace(candidate, **common, out=str(folder)))
        last = result.history[-1]
        outcome = Outcome(str(len(result.history)), last["train_seconds"],
                          last["train_cpu_seconds"], result.val_accuracy, result.test_accuracy,
                          str(result.run_dir))
    wall = time.perf_counter() - start
    print(f"{name:<28} {outcome.epochs:>6} {outcome.train_seconds:>7.0f} "
          f"{outcome.cpu_seconds:>7.0f} {wall:>7.0f} "
          f"{outcome.val_accuracy:>8.4f}   (load average {load_average()})", flush=True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=["five-minute", "best", "gpu"], required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/classifier-accuracy", help="run folders")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of training per run (default: 300, 4500 for best, "
                             "330 for gpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: see above)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default=None,
                        help="budget clock (default: cpu for five-minute, wall for best)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train exactly this many epochs, with no time budget: compares "
                             "accuracy per epoch whatever the machine's load")
    parser.add_argument("--only", nargs="+", default=None, metavar="RECIPE",
                        help="train only these candidates (the choice is made among them)")
    parser.add_argument("--refit", action="store_true",
                        help="after the choice, train the chosen recipe again on all 60,000 "
                             "training images (no validation split) and report that model's "
                             "test accuracy, as scikit-learn's GridSearchCV(refit=True) does")
    args = parser.parse_args()
    if args.epochs is not None and (args.budget or args.clock or args.epochs < 1):
        parser.error("--epochs takes a positive number and replaces --budget and --clock")
    out = Path(args.out)
    common = {"data_dir": args.data_dir, "threads": args.threads, "device": "auto"}
    if args.budget:
        common["time_budget"] = args.budget
    if args.clock:
        common["budget_clock"] = args.clock
    if args.epochs:
        common.update(epochs=args.epochs, time_budget=0.0, budget_clock="wall")
    candidates = {"five-minute": FIVE_MINUTE_CANDIDATES, "best": {"best": BEST},
                  "gpu": GPU_CANDIDATES}[args.recipe]
    if args.only:
        unknown = set(args.only) - set(candidates)
        if unknown:
            parser.error(f"unknown recipe(s) {sorted(unknown)}; choose from {sorted(candidates)}")
        candidates = {name: candidates[name] for name in args.only}

    print(f"load average at start: {load_average()}")
    print(f"{'recipe':<28} {'epochs':>6} {'train s':>7} {'cpu s':>7} {'wall s':>7} "
          f"{'val acc':>8}")
    results = {name: run(name, candidate, common, out) for name, candidate in candidates.items()}
    chosen = max(results, key=lambda name: results[name].val_accuracy)
    result = results[chosen]
    print(f"\nchosen on validation: {chosen!r}")
    if args.refit:
        print("refit on all 60,000 training images (no validation split):")
        result = run(f"{chosen} refit", candidates[chosen], {**common, "n_val": 0}, out)
    config = candidates[chosen]
    config = config.config if isinstance(config, Ensemble) else config
    print(f"{'the refit' if args.refit else 'its'} test accuracy (10,000 images, "
          f"{'flip-averaged, ' if config.tta_flip else ''}"
          f"{'EMA weights' if config.ema_decay else 'final weights'}): "
          f"{result.test_accuracy:.4f} after {result.train_seconds:.0f} s "
          f"({result.cpu_seconds:.0f} CPU s) of training; run folder {result.run_dir}")


if __name__ == "__main__":
    main()
