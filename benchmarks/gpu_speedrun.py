"""Fashion-MNIST speedruns for one GPU, in the spirit of Keller Jordan's airbench.

For each target (94% and 95% test accuracy), a ladder of fixed-length runs of one
recipe: each rung is a whole ``train_classifier`` run of E epochs (the one-cycle
schedule spans its E), on 55,000 training images with 5,000 held out for validation. The
shortest rung whose VALIDATION accuracy reaches the target is chosen, and only then is
its test accuracy and its training time (wall clock of the epochs: what airbench calls
time to train) printed. No choice reads the test set; a ladder whose every rung misses
the target on validation says so, and the test accuracy of its last rung is printed for
the record. Airbench's targets are the mean over many runs; ``--seeds`` repeats the
chosen rung and prints the mean.

``--stretch``: one long single-model run (issue 25's 96.5%): the wide ResNet of the GPU
recipe for ``--stretch-budget`` seconds of wall-clock training; its validation and test
accuracy are printed.

The rungs use the trainer as the CLI does (data resident on the device, batches sliced,
augmentation on tensors, bf16 autocast, channels_last). ``--dry-run`` runs everything on
the CPU with tiny sizes, to check the script, not to measure.

    python benchmarks/gpu_speedrun.py --data-dir device-data/fashion-mnist --stretch
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass, replace

from fashionlab.classifier.recipes import CNN_RECIPE
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.runtime.threads import load_average


@dataclass(frozen=True)
class Ladder:
    """Runs of ``config`` for each epoch count in ``epochs``, shortest first."""

    target: float
    config: ClassifierConfig
    epochs: tuple[int, ...]


def ladders(args) -> list[Ladder]:
    common = dict(device=args.device, data_dir=args.data_dir, figures=False, threads=4,
                  n_val=5000, eval_batch_size=2048)
    # 94%: the cnn with the CPU recipe at a GPU batch; 95%: WRN-16-4 with random erasing.
    fast = ClassifierConfig(model="cnn", **{**CNN_RECIPE, "batch_size": 512, "lr": 0.4},
                            **common)
    strong = ClassifierConfig(model="wrn", **{**CNN_RECIPE, "batch_size": 512, "lr": 0.4,
                                               "erasing": 0.5, "warmup_epochs": 2}, **common)
    return [Ladder(0.94, fast, tuple(args.epochs_94)), Ladder(0.95, strong, tuple(args.epochs_95))]


def dry(config: ClassifierConfig) -> ClassifierConfig:
    return replace(config, steps_per_epoch=3, test_subset=500, n_val=500, batch_size=64)


def climb(ladder: Ladder, args) -> None:
    print(f"\ntarget {ladder.target:.0%}: {ladder.config.model} "
          f"{ladder.config.model_args or ''}, batch {ladder.config.batch_size}, "
          f"rungs of {', '.join(map(str, ladder.epochs))} epochs", flush=True)
    chosen = None
    for epochs in ladder.epochs:
        config = replace(ladder.config, epochs=epochs)
        result = run(dry(config) if args.dry_run else config)
        seconds = result.history[-1]["train_seconds"]
        print(f"  {epochs:>3} epochs: {seconds:7.2f} s of training, validation "
              f"{result.val_accuracy:.4f}   (load average {load_average()})", flush=True)
        if result.val_accuracy >= ladder.target:
            chosen = (epochs, result)
            break
    if chosen is None:
        print(f"  no rung reached {ladder.target:.0%} on validation; the last rung's test "
              f"accuracy, for the record: {result.test_accuracy:.4f}")
        return
    epochs, result = chosen
    tests, times = [result.test_accuracy], [result.history[-1]["train_seconds"]]
    for seed in range(1, args.seeds):
        config = replace(ladder.config, epochs=epochs, seed=seed)
        again = run(dry(config) if args.dry_run else config)
        tests.append(again.test_accuracy)
        times.append(again.history[-1]["train_seconds"])
    print(f"  chosen on validation: {epochs} epochs; test accuracy "
          f"{', '.join(f'{t:.4f}' for t in tests)} (mean {statistics.mean(tests):.4f} over "
          f"{len(tests)} seed(s), {result.n_test:,} images), {statistics.mean(times):.2f} s of "
          f"training (mean)")


def run(config: ClassifierConfig):
    with tempfile.TemporaryDirectory() as out:
        return train_classifier(replace(config, out=out))


def stretch(args) -> None:
    from classifier_accuracy import GPU_CANDIDATES

    config = replace(GPU_CANDIDATES["wrn-16-8"], device=args.device, data_dir=args.data_dir,
                     time_budget=args.stretch_budget, figures=False)
    print(f"\nstretch, one model: wrn-16-8, {args.stretch_budget:g} s of training", flush=True)
    result = run(dry(replace(config, time_budget=5)) if args.dry_run else config)
    last = result.history[-1]
    print(f"  {len(result.history)} epochs, {last['train_seconds']:.0f} s: validation "
          f"{result.val_accuracy:.4f}, test {result.test_accuracy:.4f} "
          f"({result.n_test:,} images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs-94", type=int, nargs="+", default=[4, 6, 8, 12, 16])
    parser.add_argument("--epochs-95", type=int, nargs="+", default=[10, 15, 20, 30])
    parser.add_argument("--seeds", type=int, default=1, help="runs of each chosen rung")
    parser.add_argument("--stretch", action="store_true", help="also the 96.5%% stretch run")
    parser.add_argument("--stretch-budget", type=float, default=300.0)
    parser.add_argument("--only", type=float, nargs="+", default=None, metavar="TARGET",
                        help="only these targets (0.94, 0.95)")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, tiny sizes, two rungs: checks the script in seconds")
    args = parser.parse_args()
    if args.dry_run:
        args.device, args.epochs_94, args.epochs_95 = "cpu", [1, 2], [1]
    print(f"load average at start: {load_average()}; device {args.device}")
    for ladder in ladders(args):
        if args.only is None or ladder.target in args.only:
            climb(ladder, args)
    if args.stretch:
        stretch(args)


if __name__ == "__main__":
    main()
