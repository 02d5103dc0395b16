"""Commands of the classifier: show, train classifier, evaluate, predict."""

from __future__ import annotations

import argparse
import json

from fashionlab.cli.common import (
    data_dir_argument,
    device_argument,
    lifecycle_arguments,
    report_unusable,
    resume_check,
)
from fashionlab.errors import FashionlabError
from fashionlab.options import add_options, config_from_args, given_options, positive_int


def add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="save a grid of sample images with their class names")
    data_dir_argument(p)
    p.add_argument("--out", default="runs/samples.png", help="PNG file to write")
    p.add_argument("--n", type=positive_int, default=25, help="number of images (at most 100)")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--seed", type=int, default=0, help="which images (random, seeded)")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME|INDEX",
                   help="only images of this class (sneakers, 7...) (default: every class)")
    p.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> None:
    from fashionlab.data import CLASS_NAMES, load_fashion_mnist, parse_class
    from fashionlab.runtime.files import prepare_output_file
    from fashionlab.viz.grids import CAPTIONED_MAX, save_sample_grid

    if args.n > CAPTIONED_MAX:
        raise FashionlabError(f"--n is at most {CAPTIONED_MAX} images in one grid, got {args.n}")
    label = parse_class(args.class_name) if args.class_name is not None else None
    out = prepare_output_file(args.out)
    images, labels = load_fashion_mnist(args.data_dir).pick(args.split, args.n, args.seed, label)
    save_sample_grid(images, labels, CLASS_NAMES, out, columns=min(args.n, 8))
    print(f"wrote {out}")


def add_train_classifier(tasks: argparse._SubParsersAction) -> None:
    from fashionlab.classifier.config import ClassifierConfig
    from fashionlab.classifier.recipes import RECIPES

    p = tasks.add_parser("classifier", help="train a Fashion-MNIST classifier")
    p.add_argument("--recipe", choices=list(RECIPES), default=None,
                   help="start from a named recipe (options given beside it win): "
                   + "; ".join(f"{name}: {recipe.about}" for name, recipe in RECIPES.items()))
    add_options(p, ClassifierConfig)
    lifecycle_arguments(p, "epoch")
    p.set_defaults(func=run_train_classifier)


def run_train_classifier(args: argparse.Namespace) -> None:
    from fashionlab.classifier.config import ClassifierConfig
    from fashionlab.classifier.recipes import RECIPES
    from fashionlab.classifier.train import resume_classifier, train_classifier

    given = given_options(ClassifierConfig, args)
    if args.resume:
        resume_check(ClassifierConfig, given, args, "classifier",
                      ("epochs", "device", "data_dir"))
        result = resume_classifier(args.resume, given.get("epochs"),
                                   given.get("device", "auto"), given.get("data_dir"),
                                   stop_on_ctrl_c=True)
        config = result.config
    else:
        config = RECIPES[args.recipe].config(**given) if args.recipe else \
            ClassifierConfig(**given)
        if args.dry_run:
            config = config.dry_run()
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


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="test accuracy and per-class precision/recall of a run")
    p.add_argument("run", nargs="+",
                   help="classifier run folder; several: their ensemble (mean probabilities)")
    p.add_argument("--json", action="store_true", help="print JSON")
    data_dir_argument(p)
    device_argument(p)
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    from fashionlab.classifier.predict import evaluate_run

    report = evaluate_run(args.run, args.data_dir, args.device)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['model']} on the {report['samples']:,} test images: "
          f"accuracy {report['accuracy']:.4f}")
    clean = report["clean_test"]
    print(f"clean test: accuracy {clean['accuracy']:.4f} on the {clean['samples']:,} test images "
          f"without a copy in the training set ({clean['excluded']['exact']} exact and "
          f"{clean['excluded']['near']} near copies left out; `fashionlab audit-data`)")
    print(f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for name, row in report["per_class"].items():
        print(f"{name:<12} {row['precision']:>9.4f} {row['recall']:>7.4f} {row['f1']:>6.4f} "
              f"{row['support']:>7d}")


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify your own image files (PNG, JPEG, ...)")
    p.add_argument("run", help="classifier run folder")
    p.add_argument("images", nargs="+", help="image files, or folders of them")
    p.add_argument("--with", dest="with_runs", action="append", default=[], metavar="RUN",
                   help="another classifier run (repeatable): predict with the mean of their "
                   "probabilities, as `fashionlab evaluate RUN RUN` scores an ensemble")
    p.add_argument("--top", type=positive_int, default=3, help="classes shown per image")
    p.add_argument("--json", action="store_true", help="print JSON")
    device_argument(p)
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    """Prints each readable image's classes; each unusable file is an error line on stderr
    (and an ``error`` entry in --json), and makes the exit status 2."""
    from fashionlab.classifier.predict import predict_files

    results = predict_files([args.run, *args.with_runs], args.images, args.top, args.device)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "top" in result:
                ranked = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%"
                                   for t in result["top"])
                print(f"{result['file']}: {ranked}")
    return report_unusable(results)




def add_audit_data(sub: argparse._SubParsersAction) -> None:
    from fashionlab.data.audit import AuditConfig

    p = sub.add_parser(
        "audit-data", help="duplicates, train/test overlap and suspected label errors in the "
        "Fashion-MNIST files",
        description="Count exact and near duplicates within the training set, training images "
        "that are also in the test set, and images that a cross-validated model confidently "
        "puts in another class; print the counts and draw a figure. The data folder is only "
        "read.",
    )
    add_options(p, AuditConfig)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_audit_data)


def run_audit_data(args: argparse.Namespace) -> None:
    from fashionlab.data.audit import AuditConfig, audit_data, format_audit

    report = audit_data(config_from_args(AuditConfig, args))
    print(json.dumps(report, indent=2) if args.json else format_audit(report))
