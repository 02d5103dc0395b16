"""The ``fashionlab`` command line: argument parsing only.

Each command builds a config (or plain arguments) and calls one library function.
Errors a user can cause are ``FashionlabError``: printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from fashionlab.errors import FashionlabError
from fashionlab.options import format_key_values, parse_key_values


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=None,
        help="folder with the four Fashion-MNIST .gz files (default: $FASHIONLAB_DATA, "
        "then ~/.cache/fashionlab, then download)",
    )


def _device_name(text: str) -> str:
    from fashionlab.train.device import parse_device_name

    try:
        parse_device_name(text)
    except FashionlabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", type=_device_name,
                        help="auto (a GPU when there is one), cpu, cuda or cuda:N")


# --------------------------------------------------------------------------- show


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="save a grid of sample images with their class names")
    _data_dir_option(p)
    p.add_argument("--out", default="runs/samples.png", help="PNG file to write")
    p.add_argument("--n", type=positive_int, default=25, help="number of images (at most 100)")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--seed", type=int, default=0, help="which images (random, seeded)")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME|INDEX",
                   help="only images of this class (sneakers, 7...) (default: every class)")
    p.set_defaults(func=_run_show)


def _run_show(args: argparse.Namespace) -> None:
    from fashionlab.data import CLASS_NAMES, load_fashion_mnist, parse_class
    from fashionlab.train.runs import prepare_output_file
    from fashionlab.viz.grids import CAPTIONED_MAX, save_sample_grid

    if args.n > CAPTIONED_MAX:
        raise FashionlabError(f"--n is at most {CAPTIONED_MAX} images in one grid, got {args.n}")
    label = parse_class(args.class_name) if args.class_name is not None else None
    out = prepare_output_file(args.out)
    images, labels = load_fashion_mnist(args.data_dir).pick(args.split, args.n, args.seed, label)
    save_sample_grid(images, labels, CLASS_NAMES, out, columns=min(args.n, 8))
    print(f"wrote {out}")


# --------------------------------------------------------------------------- train classifier


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model into a run folder")
    tasks = p.add_subparsers(dest="task", required=True, metavar="TASK")
    _add_train_classifier(tasks)
    _add_train_gan(tasks)


def _add_train_classifier(tasks: argparse._SubParsersAction) -> None:
    from fashionlab.train.classifier import ClassifierConfig

    d = ClassifierConfig()
    p = tasks.add_parser("classifier", help="train a Fashion-MNIST classifier")
    p.add_argument("--model", default=d.model, help="a registered classifier (`fashionlab models`)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"default: {d.epochs} (with --resume: the run's)")
    p.add_argument("--steps-per-epoch", type=positive_int, default=d.steps_per_epoch,
                   help="cap on the batches of an epoch (quick checks; default: all)")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--time-budget", type=float, default=d.time_budget, metavar="SECONDS",
                   help="stop after this much training time; the schedule follows the clock "
                   "(--epochs is then the most)")
    p.add_argument("--budget-clock", default=d.budget_clock, choices=["wall", "cpu"],
                   help="count the time budget in wall-clock or in this process's CPU seconds")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model keyword argument, VALUE as JSON, e.g. widths=[32,64,128]")
    p.add_argument("--optimizer", default=d.optimizer, choices=["adam", "sgd"])
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD Nesterov momentum")
    p.add_argument("--schedule", default=d.schedule, choices=["constant", "cosine", "onecycle"])
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--crop-padding", type=int, default=d.crop_padding,
                   help="random crops after padding by this many pixels (0 = off)")
    p.add_argument("--flip", action="store_true", help="random left-right flips")
    p.add_argument("--erasing", type=float, default=d.erasing,
                   help="random-erasing probability per image (0 = off)")
    p.add_argument("--ema-decay", type=float, default=d.ema_decay,
                   help="evaluate and save an EMA of the weights (e.g. 0.999; 0 = off)")
    p.add_argument("--tta-flip", action="store_true",
                   help="predict with the mean of each image and its mirror image")
    p.add_argument("--tta-shift", type=int, default=d.tta_shift, metavar="PIXELS",
                   help="and of them moved by up to PIXELS in each direction ((2 PIXELS + 1)^2 "
                        "positions; in the final validation and test passes, evaluate and "
                        "predict)")
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"],
                   help="auto = bf16 autocast for convolutional models")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (measured slower: the cnn on a CPU, "
                        "WRN-16-8 on an H200; see the README)")
    p.add_argument("--fast-mlp", default=d.fast_mlp, choices=["auto", "on", "off"],
                   help="the hand-written step for the plain reference MLP")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="CPU threads (0 = PyTorch's default; 1 is faster on a busy machine)")
    p.add_argument("--n-val", type=int, default=d.n_val, help="validation images")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seeds the split, the initialisation, the batch order and augmentation")
    p.add_argument("--split-seed", type=int, default=d.split_seed,
                   help="seeds the validation split instead of --seed (runs you will average "
                        "with `evaluate RUN RUN...` should share it)")
    p.add_argument("--out", default=d.out, help="run folder to write")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue this run from its last finished epoch, with its own settings "
                        "(only --epochs, --device and --data-dir may be given with it)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--dry-run", action="store_true",
                   help="one epoch of two steps, scored on 200 validation and 200 test "
                        "images: every stage runs, in seconds")
    _data_dir_option(p)
    _device_option(p)
    p.set_defaults(func=_run_train_classifier)


def _run_train_classifier(args: argparse.Namespace) -> None:
    from fashionlab.train.classifier import ClassifierConfig, resume_classifier, train_classifier

    config = ClassifierConfig(
        model=args.model, model_args=parse_key_values(args.model_arg, "--model-arg"),
        epochs=args.epochs or ClassifierConfig.epochs, steps_per_epoch=args.steps_per_epoch,
        time_budget=args.time_budget, budget_clock=args.budget_clock,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        optimizer=args.optimizer, momentum=args.momentum, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        crop_padding=args.crop_padding, flip=args.flip, erasing=args.erasing,
        ema_decay=args.ema_decay, tta_flip=args.tta_flip,
        tta_shift=args.tta_shift, precision=args.precision,
        compile=args.compile, fast_mlp=args.fast_mlp, threads=args.threads, n_val=args.n_val,
        seed=args.seed, split_seed=args.split_seed, device=args.device, data_dir=args.data_dir,
        out=args.out, figures=not args.no_figures,
    )
    if args.resume:
        _refuse_settings_with_resume(config, args.dry_run, {"epochs", "device", "data_dir"},
                                     args.resume, "classifier")
        result = resume_classifier(args.resume, args.epochs, args.device, args.data_dir,
                                   stop_on_ctrl_c=True)
        config = result.config
    else:
        if args.dry_run:  # every stage runs, on a few images: minutes for a wide ResNet
            config.epochs, config.steps_per_epoch, config.test_subset = 1, 2, 200
            config.n_val = min(config.n_val, 200)
        result = train_classifier(config, stop_on_ctrl_c=True)
    val = (f"validation accuracy {result.val_accuracy:.4f}, " if config.n_val
           else "no validation split (--n-val 0), ")
    stopped = ""
    if result.stopped_by_user:
        stopped = f"stopped by Ctrl-C in epoch {len(result.history)} of {config.epochs}, "
        if len(result.history) > 1:  # an earlier epoch finished: its checkpoint is there
            stopped += f"`fashionlab train classifier --resume {result.run_dir}` continues it, "
    print(
        f"{config.model}: {stopped}{val}"
        f"test accuracy {result.test_accuracy:.4f} ({result.n_test:,} test images), "
        f"{result.seconds_per_epoch:.2f} s per epoch; run folder {result.run_dir}"
    )


def _refuse_settings_with_resume(config, dry_run: bool, allowed: set[str], run: str,
                                 kind: str) -> None:
    """A resumed run keeps its own settings: one given that differs from both the
    option's default and the run's own value is an error, not silently ignored."""
    from dataclasses import fields

    from fashionlab.train.runs import read_config

    default, stored = type(config)(), read_config(run, kind).get("trainer", {})
    given = [f.name for f in fields(config) if f.name not in allowed | {"resume"}
             and getattr(config, f.name) != getattr(default, f.name)
             and _as_stored(getattr(config, f.name)) != stored.get(f.name)]
    flags = {"figures": "--no-figures", "model_args": "--model-arg", "lr_g": "--lr/--lr-g",
             "lr_d": "--lr/--lr-d"}
    names = [flags.get(name, "--" + name.replace("_", "-")) for name in given]
    names += ["--dry-run"] if dry_run else []
    if names:
        raise FashionlabError(f"{', '.join(names)} cannot be given with --resume: a resumed "
                              "run keeps its settings (only --epochs, --device and --data-dir "
                              "may change)")


def _as_stored(value):
    """``value`` as config.json holds it (tuples become lists)."""
    return json.loads(json.dumps(value))


# --------------------------------------------------------------------------- evaluate / predict


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="test accuracy and per-class precision/recall of a run")
    p.add_argument("run", nargs="+",
                   help="classifier run folder; several: their ensemble (mean probabilities)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _data_dir_option(p)
    _device_option(p)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    from fashionlab.classify import evaluate_run

    report = evaluate_run(args.run, args.data_dir, args.device)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['model']} on the {report['samples']:,} test images: "
          f"accuracy {report['accuracy']:.4f}")
    print(f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, row in report["per_class"].items():
        print(f"{name:<12} {row['precision']:>9.4f} {row['recall']:>7.4f} {row['f1']:>6.4f} "
              f"{row['support']:>7d}")


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify your own image files (PNG, JPEG, ...)")
    p.add_argument("run", help="classifier run folder")
    p.add_argument("images", nargs="+", help="image files, or folders of them")
    p.add_argument("--with", dest="with_runs", action="append", default=[], metavar="RUN",
                   help="another classifier run (repeatable): predict with the mean of their "
                   "probabilities, as `fashionlab evaluate RUN RUN` scores an ensemble")
    p.add_argument("--top", type=positive_int, default=3, help="classes shown per image")
    p.add_argument("--json", action="store_true", help="print JSON")
    _device_option(p)
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    """Prints each readable image's classes; each unusable file is an error line on stderr
    (and an ``error`` entry in --json), and makes the exit status 2."""
    from fashionlab.classify import predict_files

    results = predict_files([args.run, *args.with_runs], args.images, args.top, args.device)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "top" in result:
                ranked = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%"
                                   for t in result["top"])
                print(f"{result['file']}: {ranked}")
    return _report_unusable(results)


def _report_unusable(records: Sequence[dict]) -> int:
    """An ``error:`` line on stderr for each record of an unusable picture (one with
    ``"error"``); the exit status: 2 when there was one, else 0."""
    failed = [record for record in records if "error" in record]
    for record in failed:
        print(f"error: {record['error']}", file=sys.stderr)
    return 2 if failed else 0


# --------------------------------------------------------------------------- models


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models with their parameter counts",
                       description="List the registered models; with NAME, the options of that "
                       "model (--model-arg KEY=VALUE) and their defaults.")
    p.add_argument("name", nargs="?", help="one model: its options")
    p.set_defaults(func=_run_models)


def _run_models(args: argparse.Namespace) -> None:
    from fashionlab.models import create_model, get_entry, model_names, model_options

    names = [get_entry(args.name).name] if args.name else model_names()
    print(f"{'name':<16} {'kind':<11} {'parameters':>11}  description")
    for name in names:
        entry = get_entry(name)
        built = create_model(name)
        modules = built if isinstance(built, tuple) else (built,)
        count = sum(p.numel() for m in modules for p in m.parameters())
        print(f"{name:<16} {entry.kind:<11} {count:>11,}  {entry.description}")
    if args.name:
        print("\noptions (--model-arg KEY=VALUE, the value in JSON) and their defaults:")
        for key, value in model_options(args.name).items():
            print(f"  {format_key_values({key: value})}")


# --------------------------------------------------------------------------- runs


def _add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list the run folders under a folder: what each is, how "
                       "far it trained, its result, whether --resume can continue it")
    p.add_argument("folders", nargs="*", default=["runs"], metavar="FOLDER",
                   help="folders to search (each may itself be a run) (default: runs)")
    p.set_defaults(func=_run_runs)


def _run_runs(args: argparse.Namespace) -> None:
    from fashionlab.run_table import find_runs, format_run_table, summarize_run

    runs = find_runs(args.folders)
    if not runs:
        raise FashionlabError(f"no run folder in {', '.join(args.folders)} (a run folder holds "
                              "the config.json of a `fashionlab train` or `inpaint` run)")
    print(format_run_table([summarize_run(run) for run in runs]))


# --------------------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole project story and write an HTML report")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="profile", const="quick",
                      help="every section in about 3 minutes on 2 CPU cores (CI)")
    size.add_argument("--full", action="store_const", dest="profile", const="full",
                      help="the long versions (20-epoch classifier, 100-epoch GAN, best CNN)")
    p.set_defaults(profile="default")
    p.add_argument("--out", default="runs/demo", help="demo folder (report.html, results.json)")
    p.add_argument("--only", nargs="+", default=[], metavar="SECTION",
                   help="run only these sections")
    p.add_argument("--air-quality-dir", default=None,
                   help="folder with the Beijing air-quality CSVs (default: "
                   "$FASHIONLAB_AIR_QUALITY)")
    p.add_argument("--seed", type=int, default=0)
    _data_dir_option(p)
    _device_option(p)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from fashionlab.report.demo import DemoConfig, run_demo

    run_demo(DemoConfig(profile=args.profile, out=args.out, data_dir=args.data_dir,
                        air_quality_dir=args.air_quality_dir, device=args.device,
                        seed=args.seed, only=args.only))


# --------------------------------------------------------------------------- score


def _add_score(sub: argparse._SubParsersAction) -> None:
    from fashionlab.score import ScoreConfig

    p = sub.add_parser(
        "score", help="FID, KID, precision/recall (and agreement, CAS) of a GAN run",
        description="Score a GAN run against the 10,000 real test images, in the features of "
        "a classifier trained by fashionlab (NOT Inception-FID numbers).",
    )
    p.add_argument("run", help="GAN run folder (fashionlab train gan)")
    p.add_argument("--classifier", required=True,
                   help="classifier run folder: its penultimate features are the feature space")
    p.add_argument("--n", type=positive_int, default=10_000, help="generated images")
    p.add_argument("--kid-subset-size", type=positive_int, default=1000,
                   help="images per KID subset")
    p.add_argument("--kid-subsets", type=positive_int, default=100, help="KID subsets")
    p.add_argument("--k", type=positive_int, default=3, help="neighbours for precision/recall")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cas", action="store_true",
                   help="skip the Classification Accuracy Score (conditional runs)")
    p.add_argument("--cas-model", default=ScoreConfig.cas_model, help="the CAS classifier")
    p.add_argument("--cas-epochs", type=positive_int, default=ScoreConfig.cas_epochs)
    p.add_argument("--cas-samples", type=int, default=ScoreConfig.cas_samples,
                   help="generated images CAS trains on (a fresh draw; 0 = the n scored)")
    p.add_argument("--cas-real-baseline", action="store_true",
                   help="also train the CAS classifier on as many real images")
    p.add_argument("--cas-fresh", action="store_true",
                   help="CAS trains each epoch on a new draw of generated images (seeded)")
    p.add_argument("--cas-crop-padding", type=int, default=ScoreConfig.cas_crop_padding,
                   help="CAS augmentation: random crops after padding (0 = off)")
    p.add_argument("--cas-flip", action="store_true", help="CAS augmentation: random flips")
    p.add_argument("--class", dest="class_name", default=None,
                   help="conditional runs: score one class (name or index) against the test "
                   "images of that class (default: all classes, n/10 each)")
    p.add_argument("--best", action="store_true",
                   help="score the best-FID epoch's generator instead of the last one")
    p.add_argument("--noise-scale", type=float, default=ScoreConfig.noise_scale, metavar="S",
                   help="sample the generator's noise as N(0, S^2 I) for every metric and CAS "
                   "(1.0 = as in training; above 1: more variety, less fidelity)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default=None, help="also write the JSON report to this file")
    _data_dir_option(p)
    _device_option(p)
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> None:
    from fashionlab.score import ScoreConfig, format_score, score_run, write_report

    config = ScoreConfig(
        run=args.run, classifier=args.classifier, n=args.n, kid_subset_size=args.kid_subset_size,
        kid_subsets=args.kid_subsets, k=args.k, seed=args.seed, cas=not args.no_cas,
        cas_model=args.cas_model, cas_epochs=args.cas_epochs, cas_samples=args.cas_samples,
        cas_real_baseline=args.cas_real_baseline, cas_fresh=args.cas_fresh,
        cas_crop_padding=args.cas_crop_padding, cas_flip=args.cas_flip,
        class_name=args.class_name, best=args.best, noise_scale=args.noise_scale,
        device=args.device, data_dir=args.data_dir,
    )
    if args.out:
        from fashionlab.train.runs import prepare_output_file

        prepare_output_file(args.out)  # fail before the work, not after
    report = score_run(config)
    if args.out:
        write_report(report, args.out)
    print(json.dumps(report, indent=2) if args.json else format_score(report))


# --------------------------------------------------------------------------- train gan


def _add_train_gan(tasks: argparse._SubParsersAction) -> None:
    from fashionlab.train.gan import GanConfig

    d = GanConfig()
    p = tasks.add_parser(
        "gan", help="train a GAN (per-epoch samples, GIF, checkpoints, --resume)",
        description="Train a GAN into a run folder. `--model dcgan` is the TensorFlow tutorial's "
        "DCGAN (BCE, Adam 1e-4, batch 256, 100 epochs); the default `lite` and the conditional "
        "`cgan` train with hinge loss, spectral norm and an EMA generator. Options left out "
        "take the model's defaults.",
    )
    p.add_argument("--model", default=None, help="a registered GAN (`fashionlab models`); "
                   "default: lite, or the model of the --resume run")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, VALUE as JSON, e.g. leaky=true (repeatable)")
    p.add_argument("--epochs", type=int, default=None, help="default: the model's (dcgan: 100)")
    p.add_argument("--batch-size", type=int, default=None, help="per process")
    p.add_argument("--loss", choices=["bce", "hinge"], default=None)
    p.add_argument("--lr", type=float, default=None, help="learning rate of both networks")
    p.add_argument("--lr-g", type=float, default=None, help="generator learning rate")
    p.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate")
    p.add_argument("--betas", type=float, nargs=2, default=None, metavar=("B1", "B2"))
    p.add_argument("--ema", type=float, default=None, help="EMA decay of the generator; 0 = off")
    p.add_argument("--train-subset", type=int, default=None, metavar="N",
                   help="train on a seeded random subset of N training images")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="fixed-noise images per epoch grid (per class for conditional models)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="EPOCHS")
    p.add_argument("--fid-every", type=int, default=d.fid_every, metavar="EPOCHS",
                   help="FID on a subset every EPOCHS epochs, best epoch kept (0 = off)")
    p.add_argument("--fid-classifier", default=None, metavar="CLASSIFIER_RUN",
                   help="classifier run whose penultimate features FID uses")
    p.add_argument("--fid-samples", type=int, default=d.fid_samples)
    p.add_argument("--steps-per-epoch", type=int, default=None, help="cap (quick checks)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=d.precision,
                   help="auto: bf16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=d.out, help="run folder to write")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue this run folder")
    p.add_argument("--no-figures", action="store_true", help="skip sample grids, GIF, loss plot")
    p.add_argument("--dry-run", action="store_true", help="one epoch of two steps")
    _data_dir_option(p)
    _device_option(p)
    p.set_defaults(func=_run_train_gan)


def _run_train_gan(args: argparse.Namespace) -> None:
    from fashionlab.train.gan import GanConfig, train_gan

    config = GanConfig(
        model=args.model, model_args=parse_key_values(args.model_arg, "--model-arg"),
        epochs=args.epochs, batch_size=args.batch_size, loss=args.loss, lr_g=args.lr_g or args.lr,
        lr_d=args.lr_d or args.lr, betas=tuple(args.betas) if args.betas else None, ema=args.ema,
        train_subset=args.train_subset, samples=args.samples,
        checkpoint_every=args.checkpoint_every, fid_every=args.fid_every,
        fid_classifier=args.fid_classifier, fid_samples=args.fid_samples,
        steps_per_epoch=args.steps_per_epoch, seed=args.seed, device=args.device,
        precision=args.precision, data_dir=args.data_dir, out=args.out, resume=args.resume,
        figures=not args.no_figures,
    )
    if args.resume:  # --model is checked against the run's by train_gan, with its own message
        _refuse_settings_with_resume(config, args.dry_run,
                                     {"epochs", "device", "data_dir", "model"}, args.resume, "gan")
    if args.dry_run:
        config.epochs, config.steps_per_epoch = 1, 2
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


# --------------------------------------------------------------------------- generate


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from fashionlab.generate import GenerateConfig

    p = sub.add_parser(
        "generate", help="generate images from a GAN run (PNG grid or .npy), optionally classify",
        description="Generate images from a GAN run. A conditional run makes --class, or, "
        "without --class, every class in turn (balanced).",
    )
    p.add_argument("run", help="GAN run folder (fashionlab train gan)")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--out", default="generated.png", help=".png grid or .npy of uint8 images")
    p.add_argument("--seed", type=int, default=0, help="same seed, same images")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME|INDEX",
                   help="conditional runs: the class to make, by index or name (sneakers, "
                   "ankle-boot, tshirt...) (default: all classes, balanced)")
    p.add_argument("--classify", default=None, metavar="CLASSIFIER_RUN",
                   help="classify the images: class histogram, mean confidence, captioned grid")
    p.add_argument("--best", action="store_true", help="the best-FID epoch's generator")
    p.add_argument("--noise-scale", type=float, default=GenerateConfig.noise_scale, metavar="S",
                   help="sample the generator's noise as N(0, S^2 I) (1.0 = as in training; "
                   "above 1: more variety, less fidelity)")
    p.add_argument("--columns", type=positive_int, default=GenerateConfig.columns)
    p.add_argument("--json", action="store_true", help="print JSON")
    _device_option(p)
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    from fashionlab.generate import GenerateConfig, format_report, generate

    config = GenerateConfig(
        run=args.run, n=args.n, out=args.out, seed=args.seed, class_name=args.class_name,
        classify=args.classify, best=args.best, device=args.device, columns=args.columns,
        noise_scale=args.noise_scale,
    )
    report = generate(config)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


# --------------------------------------------------------------------------- impute


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {value}")
    return value


def _add_impute(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute import imputer_names
    from fashionlab.impute.table import AUTO, AUTO_FRACTION, AUTO_METHODS

    p = sub.add_parser(
        "impute", help="fill the empty numeric cells of a CSV file (by default the best "
        "method, measured on the file)",
        description="Fill the empty numeric cells of a CSV file. Every column (text too) and the "
        "row order are kept; only empty cells of numeric columns get a value. The input file is "
        "never modified.",
    )
    p.add_argument("input", help="CSV file to read")
    p.add_argument("--out", default=None, help="CSV file to write (must not exist, see --force)")
    p.add_argument("--method", default=AUTO,
                   help=f"auto, or one of: {', '.join(imputer_names())} (for rows in time "
                   "order, an hourly series, interpolate, locf and window-gain use the "
                   f"neighbouring rows). auto scores {', '.join(AUTO_METHODS)} on "
                   f"{AUTO_FRACTION:g} of the observed cells, hidden, and fills with the best")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--flags", action="store_true",
                   help="add a <column>_imputed column (1 = filled) for each column with gaps")
    p.add_argument("--evaluate", type=fraction, default=None, metavar="FRACTION",
                   help="hide this fraction of the observed numeric cells and print each "
                   "method's error on them")
    p.add_argument("--compare", default=None, metavar="NAMES",
                   help="comma-separated methods that --evaluate scores (default: the "
                   f"candidates of auto: {','.join(AUTO_METHODS)})")
    p.add_argument("--seed", type=int, default=0, help="seeds the imputer and the hidden cells")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument of the --method imputer, VALUE as JSON (repeatable; "
                   "--evaluate scores that method with it too), e.g. --method knn --param "
                   "n_neighbors=10; an unknown KEY lists the method's parameters")
    p.set_defaults(func=_run_impute)


def _run_impute(args: argparse.Namespace) -> None:
    from fashionlab.impute.table import ImputeConfig, format_result, impute_csv

    config = ImputeConfig(
        input=args.input, out=args.out, method=args.method, force=args.force, flags=args.flags,
        evaluate=args.evaluate, seed=args.seed, params=parse_key_values(args.param, "--param"),
        evaluate_methods=tuple(args.compare.split(",")) if args.compare else None,
    )
    result = impute_csv(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_result(result, config))


# --------------------------------------------------------------------------- inpaint


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute.inpaint import MASKS, MODELS, InpaintConfig

    d = InpaintConfig()
    p = sub.add_parser(
        "inpaint", help="fill removed boxes or pixels of Fashion-MNIST images with a GAIN model",
        description="Train a GAIN inpainting model on training images, score it on the hidden "
        "pixels of validation and test images against mean fill and nearest neighbour, and save "
        "a figure original / masked / filled.",
    )
    p.add_argument("--model", choices=MODELS, default=d.model)
    p.add_argument("--mask", choices=MASKS, default=d.mask)
    p.add_argument("--box-size", type=positive_int, default=d.box_size)
    p.add_argument("--pixel-fraction", type=fraction, default=d.pixel_fraction)
    p.add_argument("--steps", type=positive_int, default=d.steps)
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--width", type=positive_int, default=d.width)
    p.add_argument("--n-eval", type=positive_int, default=d.n_eval,
                   help="validation and test images scored (each)")
    p.add_argument("--n-pool", type=positive_int, default=d.n_pool,
                   help="training images searched by the nearest-neighbour baseline")
    p.add_argument("--threads", type=int, default=d.threads, help="0 = PyTorch's default")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=d.out, help="run folder to write")
    p.add_argument("--dry-run", action="store_true", help="a few steps on few images")
    _data_dir_option(p)
    p.set_defaults(func=_run_inpaint)


def _run_inpaint(args: argparse.Namespace) -> None:
    from fashionlab.impute.inpaint import InpaintConfig, format_results, inpaint

    config = InpaintConfig(
        model=args.model, mask=args.mask, box_size=args.box_size,
        pixel_fraction=args.pixel_fraction, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, width=args.width, n_eval=args.n_eval, n_pool=args.n_pool,
        threads=args.threads, seed=args.seed, out=args.out, dry_run=args.dry_run,
        data_dir=args.data_dir,
    )
    print(format_results(inpaint(config, stop_on_ctrl_c=True)))


# --------------------------------------------------------------------------- fill


def _add_fill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fill", help="fill a removed region of your own pictures with an inpainting run",
        description="Fill a box, or a region you paint, of your own pictures with the GAIN "
        "model of a `fashionlab inpaint` run. Each picture is read as `predict` reads it "
        "(Fashion-MNIST's own conversion: trimmed to the garment, 28x28 grey, negated when "
        "its background is light), the region is "
        "removed and the model fills it; the figure shows each picture, the region (red) and "
        "the fill.",
    )
    p.add_argument("run", help="inpainting run folder (`fashionlab inpaint --out RUN`)")
    p.add_argument("images", nargs="+", help="image files, or folders of them")
    region = p.add_mutually_exclusive_group()
    region.add_argument("--box", type=box_option, default=None, metavar="TOP,LEFT,HEIGHT,WIDTH",
                        help="the box to remove, in pixels of the 28x28 picture (default: the "
                        "run's box size, centred)")
    region.add_argument("--mask", default=None, metavar="MASK.png",
                        help="a picture of the same size as the pictures (or 28x28) whose light "
                        "pixels mark the region to remove (transparent pixels count as dark)")
    p.add_argument("--out", default="runs/filled.png", help="PNG figure to write")
    p.set_defaults(func=_run_fill)


def box_option(text: str) -> tuple[int, ...]:
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return box


def _run_fill(args: argparse.Namespace) -> int:
    """Like ``predict``: each unusable picture is an error line, and makes the status 2."""
    from fashionlab.impute.inpaint import fill_pictures

    done = fill_pictures(args.run, args.images, args.box, args.out, args.mask)
    if done["figure"]:
        if done["box"]:
            top, left, height, width = done["box"]
            region = f"a {height}x{width} box at row {top}, column {left}"
        else:
            region = f"the region marked in {done['mask']}"
        print(f"filled {region} of {len(done['files'])} picture(s) with {args.run} "
              f"({done['model']}); wrote {done['figure']}")
    return _report_unusable(done["errors"])


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a classifier or GAN run's model as an ONNX file",
        description="Export the model of a classifier run (uint8 images (N, 28, 28) in, "
        "probabilities (N, 10) out, with the run's test-time averaging) or of a GAN run "
        "(noise, and labels for a conditional one, in; images in [-1, 1] out) to ONNX, to "
        "run it with onnxruntime alone.")
    p.add_argument("run", help="classifier or GAN run folder")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="file format")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="the file to write")
    p.add_argument("--best", action="store_true",
                   help="GAN runs: the best-FID epoch's generator instead of the last one")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from fashionlab.export import export_run

    done = export_run(args.run, args.out, args.format, args.best)
    inputs = ", ".join(f"{k} {v}" for k, v in done["inputs"].items())
    outputs = ", ".join(f"{k} {v}" for k, v in done["outputs"].items())
    print(f"wrote {done['out']}: the {done['model']} {done['kind']} of {done['run']}; "
          f"inputs {inputs}; outputs {outputs}")


def _add_app(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app", help="a local web page to classify, generate, fill pictures and CSV files",
        description="Serve a web page (Gradio) with the tabs Classify, Generate, Fill and "
        "Impute over the run folders under --runs (those `fashionlab demo` writes). Needs "
        'the app extra: pip install -e ".[app]".')
    p.add_argument("--runs", default="runs", help="the folder searched for run folders")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (0.0.0.0: every network of this machine)")
    p.add_argument("--port", type=positive_int, default=None,
                   help="the port (default: the first free one from 7860)")
    p.set_defaults(func=_run_app)


def _run_app(args: argparse.Namespace) -> None:
    try:
        from fashionlab.app.page import serve
    except ImportError as exc:
        raise FashionlabError(f'the app needs Gradio: pip install -e ".[app]" ({exc})') from None
    serve(args.runs, args.host, args.port)


# --------------------------------------------------------------------------- main

COMMANDS: Sequence[Callable[[argparse._SubParsersAction], None]] = (
    _add_show,
    _add_train,
    _add_evaluate,
    _add_predict,
    _add_models,
    _add_runs,
    _add_generate,
    _add_demo,
    _add_score,
    _add_impute,
    _add_inpaint,
    _add_fill,
    _add_export,
    _add_app,
)


class _Parser(argparse.ArgumentParser):
    """Every fashionlab parser and subparser ends each option's help with its default
    (unless there is none to show), so ``--help`` answers "what happens if I leave it out"."""

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        default = action.default
        if (action.option_strings and "%(default)" not in (action.help or "")
                and action.help is not argparse.SUPPRESS
                and not any(default is none for none in (None, False, argparse.SUPPRESS))
                and default != []):
            action.help = f"{action.help} (default: %(default)s)" if action.help \
                else "default: %(default)s"
        return action


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fashionlab",
        description="Deep learning on Fashion-MNIST: classify, generate, impute.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Library warnings (scikit-learn's ConvergenceWarning...) as one ``warning:`` line,
    like the ``error:`` lines, instead of a file name, a line number and source code."""
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args) or 0  # a command may return its exit status
    except FashionlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fashionlab evaluate RUN | head`: the reader has gone
        # Python's advice: point stdout at devnull so the flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it
    finally:
        warnings.formatwarning = shown


if __name__ == "__main__":
    sys.exit(main())
