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
from dataclasses import dataclass

from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.errors import FashionlabError
from fashionlab.options import (
    RESUME_KEEPS,
    add_options,
    config_from_args,
    format_key_values,
    given_options,
    positive_int,
    refuse_with_resume,
)
from fashionlab.runtime.device import device_option


@dataclass
class _Where:
    """The data folder and device of commands that have no config of their own."""

    data_dir: str | None = data_dir_option()
    device: str = device_option()


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    add_options(parser, _Where, skip=("device",))
    parser.set_defaults(data_dir=_Where.data_dir)


def _device_option(parser: argparse.ArgumentParser) -> None:
    add_options(parser, _Where, skip=("data_dir",))
    parser.set_defaults(device=_Where.device)


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
    from fashionlab.runtime.runs import prepare_output_file
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
    from fashionlab.classifier.config import ClassifierConfig
    from fashionlab.classifier.recipes import RECIPES

    p = tasks.add_parser("classifier", help="train a Fashion-MNIST classifier")
    p.add_argument("--recipe", choices=list(RECIPES), default=None,
                   help="start from a named recipe (options given beside it win): "
                   + "; ".join(f"{name}: {recipe.about}" for name, recipe in RECIPES.items()))
    add_options(p, ClassifierConfig)
    _run_lifecycle_options(p, "epoch")
    p.set_defaults(func=_run_train_classifier)


def _run_lifecycle_options(p: argparse.ArgumentParser, unit: str) -> None:
    """--resume and --dry-run, the same for every trainer."""
    p.add_argument("--resume", default=None, metavar="RUN",
                   help=f"continue this run from its last finished {unit}, with its own "
                   "settings (only --epochs, --device and --data-dir may be given with it)")
    p.add_argument("--dry-run", action="store_true",
                   help="every stage on a few images, in seconds (checks a setup end to end)")


def _resume_check(cls, given: dict, args: argparse.Namespace, kind: str,
                  allowed: tuple[str, ...], shown: dict[str, str] | None = None) -> None:
    """A resumed run keeps its settings; --dry-run or --recipe cannot come with it."""
    from fashionlab.runtime.runs import read_config

    for flag, used in (("--dry-run", args.dry_run), ("--recipe", getattr(args, "recipe", None))):
        if used:
            raise FashionlabError(f"{flag} cannot be given with --resume: {RESUME_KEEPS}")
    refuse_with_resume(cls, given, read_config(args.resume, kind).get("trainer", {}), allowed,
                       shown)


def _run_train_classifier(args: argparse.Namespace) -> None:
    from fashionlab.classifier.config import ClassifierConfig
    from fashionlab.classifier.recipes import RECIPES
    from fashionlab.classifier.train import resume_classifier, train_classifier

    given = given_options(ClassifierConfig, args)
    if args.resume:
        _resume_check(ClassifierConfig, given, args, "classifier",
                      ("epochs", "device", "data_dir"))
        result = resume_classifier(args.resume, given.get("epochs"),
                                   given.get("device", "auto"), given.get("data_dir"),
                                   stop_on_ctrl_c=True)
        config = result.config
    else:
        base = RECIPES[args.recipe].settings if args.recipe else {}
        config = ClassifierConfig(**{**base, **given})
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
    from fashionlab.classifier.predict import evaluate_run

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
    from fashionlab.runtime.run_table import find_runs, format_run_table, summarize_run

    runs = find_runs(args.folders)
    if not runs:
        raise FashionlabError(f"no run folder in {', '.join(args.folders)} (a run folder holds "
                              "the config.json of a `fashionlab train` or `inpaint` run)")
    print(format_run_table([summarize_run(run) for run in runs]))


# --------------------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from fashionlab.report.context import DemoConfig

    p = sub.add_parser("demo", help="run the whole project story and write an HTML report")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="profile", const="quick",
                      help="every section in about 3 minutes on 2 CPU cores (CI)")
    size.add_argument("--full", action="store_const", dest="profile", const="full",
                      help="the long versions (20-epoch classifier, 100-epoch GAN, best CNN)")
    add_options(p, DemoConfig)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from fashionlab.report.demo import DemoConfig, run_demo

    run_demo(config_from_args(DemoConfig, args, profile=args.profile or "default"))


# --------------------------------------------------------------------------- score


def _add_score(sub: argparse._SubParsersAction) -> None:
    from fashionlab.gan.score import ScoreConfig

    p = sub.add_parser(
        "score", help="FID, KID, precision/recall (and agreement, CAS) of a GAN run",
        description="Score a GAN run against the 10,000 real test images, in the features of "
        "a classifier trained by fashionlab (NOT Inception-FID numbers).",
    )
    add_options(p, ScoreConfig)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default=None, help="also write the JSON report to this file")
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> None:
    from fashionlab.gan.score import ScoreConfig, format_score, score_run, write_report

    config = config_from_args(ScoreConfig, args)
    if args.out:
        from fashionlab.runtime.runs import prepare_output_file

        prepare_output_file(args.out)  # fail before the work, not after
    report = score_run(config)
    if args.out:
        write_report(report, args.out)
    print(json.dumps(report, indent=2) if args.json else format_score(report))


# --------------------------------------------------------------------------- train gan


def _add_train_gan(tasks: argparse._SubParsersAction) -> None:
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
    _run_lifecycle_options(p, "epoch")
    p.set_defaults(func=_run_train_gan)


def _run_train_gan(args: argparse.Namespace) -> None:
    from fashionlab.gan.train import GanConfig, train_gan

    given = given_options(GanConfig, args)
    if args.lr is not None:  # --lr sets both rates, unless one is given on its own
        given = {"lr_g": args.lr, "lr_d": args.lr, **given}
    if args.resume:  # --model is checked against the run's by train_gan, with its own message
        _resume_check(GanConfig, given, args, "gan", ("epochs", "device", "data_dir", "model"),
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


# --------------------------------------------------------------------------- generate


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from fashionlab.gan.generate import GenerateConfig

    p = sub.add_parser(
        "generate", help="generate images from a GAN run (PNG grid or .npy), optionally classify",
        description="Generate images from a GAN run. A conditional run makes --class, or, "
        "without --class, every class in turn (balanced).",
    )
    add_options(p, GenerateConfig)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    from fashionlab.gan.generate import GenerateConfig, format_report, generate

    report = generate(config_from_args(GenerateConfig, args))
    print(json.dumps(report, indent=2) if args.json else format_report(report))


# --------------------------------------------------------------------------- impute


def _add_impute(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute.table import ImputeConfig

    p = sub.add_parser(
        "impute", help="fill the empty numeric cells of a CSV file (by default the best "
        "method, measured on the file)",
        description="Fill the empty numeric cells of a CSV file. Every column (text too) and the "
        "row order are kept; only empty cells of numeric columns get a value. The input file is "
        "never modified.",
    )
    add_options(p, ImputeConfig)
    p.set_defaults(func=_run_impute)


def _run_impute(args: argparse.Namespace) -> None:
    from fashionlab.impute.table import ImputeConfig, format_result, impute_csv

    config = config_from_args(ImputeConfig, args)
    result = impute_csv(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_result(result, config))


# --------------------------------------------------------------------------- inpaint


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    from fashionlab.inpaint.train import InpaintConfig

    p = sub.add_parser(
        "inpaint", help="fill removed boxes or pixels of Fashion-MNIST images with a GAIN model",
        description="Train a GAIN inpainting model on training images, score it on the hidden "
        "pixels of validation and test images against mean fill and nearest neighbour, and save "
        "a figure original / masked / filled.",
    )
    add_options(p, InpaintConfig)
    p.set_defaults(func=_run_inpaint)


def _run_inpaint(args: argparse.Namespace) -> None:
    from fashionlab.inpaint.train import InpaintConfig, format_results, inpaint

    print(format_results(inpaint(config_from_args(InpaintConfig, args), stop_on_ctrl_c=True)))


# --------------------------------------------------------------------------- fill


def _add_fill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fill", help="fill a removed region of your own pictures with an inpainting run",
        description="Fill a box, or a region you paint, of your own pictures with the GAIN "
        "model of a `fashionlab inpaint` run. Each picture is read as `predict` reads it "
        "(28x28 grey, aspect kept, inverted when its background is light), the region is "
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
    from fashionlab.inpaint.train import fill_pictures

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
