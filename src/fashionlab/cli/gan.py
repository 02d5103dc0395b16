"""Commands of the GANs: train gan, generate, score."""

from __future__ import annotations

import argparse
import json
import os

from fashionlab.cli.common import (
    lifecycle_arguments,
    resume_check,
)
from fashionlab.options import add_options, config_from_args, given_options


def add_train_gan(tasks: argparse._SubParsersAction) -> None:
    from fashionlab.gan.train import GanConfig

    p = tasks.add_parser(
        "gan", help="train a GAN (per-epoch samples, GIF, checkpoints, --resume)",
        description="Train a GAN into a run folder. `--model dcgan` is the TensorFlow tutorial's "
        "DCGAN (BCE, Adam 1e-4, batch 256, 100 epochs); the default `lite` and the conditional "
        "`cgan` train with hinge loss, spectral norm and an EMA generator. Options left out "
        "take the model's defaults.",
    )
    add_options(p, GanConfig)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of both networks (--lr-g and --lr-d win over it)")
    lifecycle_arguments(p, "epoch")
    p.set_defaults(func=run_train_gan)


def run_train_gan(args: argparse.Namespace) -> None:
    from fashionlab.gan.train import GanConfig, train_gan

    given = given_options(GanConfig, args)
    if args.lr is not None:  # --lr sets both rates, unless one is given on its own
        given = {"lr_g": args.lr, "lr_d": args.lr, **given}
    if args.resume:  # --model is checked against the run's by train_gan, with its own message
        unchecked = {name: value for name, value in given.items() if name != "model"}
        resume_check(GanConfig, unchecked, args, "gan", ("epochs", "device", "data_dir"),
                      {"lr_g": "--lr/--lr-g", "lr_d": "--lr/--lr-d"})
    config = GanConfig(**given, resume=args.resume)
    if args.dry_run:
        config = config.dry_run()
    result = train_gan(config, stop_on_ctrl_c=True)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    last = result.history[-1] if result.history else {}
    best = f", best FID {result.best_fid:.2f}" if result.best_fid is not None else ""
    if result.stopped_by_user:
        print(f"stopped by Ctrl-C after epoch {last['epoch']}; "
              f"`fashionlab train gan --resume {result.run_dir}` continues it")
    print(f"{len(result.history)} epochs, last loss_g {last.get('loss_g', float('nan')):.4f} "
          f"loss_d {last.get('loss_d', float('nan')):.4f}, {result.seconds_per_epoch:.2f} s per "
          f"epoch{best}; run folder {result.run_dir}")


def add_generate(sub: argparse._SubParsersAction) -> None:
    from fashionlab.gan.generate import GenerateConfig

    p = sub.add_parser(
        "generate", help="generate images from a GAN run (PNG grid or .npy), optionally classify",
        description="Generate images from a GAN run. A conditional run makes --class, or, "
        "without --class, every class in turn (balanced).",
    )
    add_options(p, GenerateConfig)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> None:
    from fashionlab.gan.generate import GenerateConfig, format_report, generate

    report = generate(config_from_args(GenerateConfig, args))
    print(json.dumps(report, indent=2) if args.json else format_report(report))


def add_score(sub: argparse._SubParsersAction) -> None:
    from fashionlab.gan.score import ScoreConfig

    p = sub.add_parser(
        "score", help="FID, KID, precision/recall (and agreement, CAS) of a GAN run",
        description="Score a GAN run against the 10,000 real test images, in the features of "
        "a classifier trained by fashionlab (NOT Inception-FID numbers).",
    )
    add_options(p, ScoreConfig)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default=None, help="also write the JSON report to this file")
    p.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> None:
    from fashionlab.gan.score import ScoreConfig, format_score, score_run, write_report

    config = config_from_args(ScoreConfig, args)
    if args.out:
        from fashionlab.runtime.files import prepare_output_file

        prepare_output_file(args.out)  # fail before the work, not after
    report = score_run(config)
    if args.out:
        write_report(report, args.out)
    print(json.dumps(report, indent=2) if args.json else format_score(report))
