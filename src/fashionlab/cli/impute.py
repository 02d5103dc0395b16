"""Commands of imputation: impute (tables), inpaint and fill (pictures)."""

from __future__ import annotations

import argparse
import sys

from fashionlab.cli.common import (
    report_unusable,
)
from fashionlab.options import add_options, config_from_args, given_options, refuse_with_resume
from fashionlab.runtime.runs import read_config


def add_impute(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute.table import ImputeConfig

    p = sub.add_parser(
        "impute", help="fill the empty numeric cells of a CSV file (by default the best "
        "method, measured on the file)",
        description="Fill the empty numeric cells of a CSV file. Every column (text too) and the "
        "row order are kept; only empty cells of numeric columns get a value. The input file is "
        "never modified.",
    )
    add_options(p, ImputeConfig)
    p.set_defaults(func=run_impute)


def run_impute(args: argparse.Namespace) -> None:
    from fashionlab.impute.table import ImputeConfig, format_result, impute_csv

    config = config_from_args(ImputeConfig, args)
    result = impute_csv(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_result(result, config))


SUBCOMMANDS = {"fit": "impute-fit", "apply": "impute-apply"}  # `impute fit` = `impute-fit`


def impute_words(argv: list[str]) -> list[str]:
    """``impute fit ...`` / ``impute apply ...`` as the commands ``impute-fit`` /
    ``impute-apply``; every other ``impute FILE ...`` is left as it was (a file named ``fit``
    is then given as ``./fit``)."""
    if len(argv) >= 2 and argv[0] == "impute" and argv[1] in SUBCOMMANDS:
        return [SUBCOMMANDS[argv[1]], *argv[2:]]
    return argv


def add_impute_fit(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute.fit_apply import ImputeFitConfig

    p = sub.add_parser(
        "impute-fit", help="fit an imputer on a history CSV file once and save it (also "
        "`impute fit`)", description="Fit an imputer on a history CSV file and save it to a "
        "model folder (JSON and safetensors, loaded without unpickling) for `impute apply`.")
    add_options(p, ImputeFitConfig)
    p.set_defaults(func=run_impute_fit)


def run_impute_fit(args: argparse.Namespace) -> None:
    from fashionlab.impute.fit_apply import ImputeFitConfig, fit_model

    done = fit_model(config_from_args(ImputeFitConfig, args))
    print(f"fitted {done['method']} on {done['rows']:,} rows of {done['columns']} numeric "
          f"columns; wrote {done['out']}")


def add_impute_apply(sub: argparse._SubParsersAction) -> None:
    from fashionlab.impute.fit_apply import ImputeApplyConfig

    p = sub.add_parser(
        "impute-apply", help="fill a CSV file with a model saved by `impute fit` (also "
        "`impute apply`)", description="Fill the empty numeric cells of a CSV file with a "
        "fitted model folder; no statistic of the new file enters the model.")
    add_options(p, ImputeApplyConfig)
    p.set_defaults(func=run_impute_apply)


def run_impute_apply(args: argparse.Namespace) -> None:
    from fashionlab.impute.fit_apply import ImputeApplyConfig, apply_model

    done = apply_model(config_from_args(ImputeApplyConfig, args))
    print(f"filled {done['cells']:,} empty cells of {done['rows']:,} rows with "
          f"{done['method']}; wrote {done['out']}")


def add_inpaint(sub: argparse._SubParsersAction) -> None:
    from fashionlab.inpaint.train import InpaintConfig

    p = sub.add_parser(
        "inpaint", help="fill removed boxes or pixels of Fashion-MNIST images with a GAIN model",
        description="Train a GAIN inpainting model on training images, score it on the hidden "
        "pixels of validation and test images against mean fill and nearest neighbour, and save "
        "a figure original / masked / filled.",
    )
    add_options(p, InpaintConfig)
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue this run from its last checkpoint, with its own settings "
                   "(only --data-dir may be given with it)")
    p.set_defaults(func=run_inpaint)


def run_inpaint(args: argparse.Namespace) -> None:
    from fashionlab.inpaint.train import InpaintConfig, format_results, inpaint, resume_inpaint

    if args.resume:
        given = given_options(InpaintConfig, args)
        refuse_with_resume(InpaintConfig, given, read_config(args.resume, "inpaint"),
                           ("data_dir",))
        results = resume_inpaint(args.resume, stop_on_ctrl_c=True, data_dir=given.get("data_dir"))
    else:
        results = inpaint(config_from_args(InpaintConfig, args), stop_on_ctrl_c=True)
    print(format_results(results))


def add_fill(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=run_fill)


def box_option(text: str) -> tuple[int, ...]:
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected TOP,LEFT,HEIGHT,WIDTH, got {text!r}")
    return box


def run_fill(args: argparse.Namespace) -> int:
    """Like ``predict``: each unusable picture is an error line, and makes the status 2."""
    from fashionlab.inpaint.fill import fill_pictures

    done = fill_pictures(args.run, args.images, args.box, args.out, args.mask)
    if done["figure"]:
        if done["box"]:
            top, left, height, width = done["box"]
            region = f"a {height}x{width} box at row {top}, column {left}"
        else:
            region = f"the region marked in {done['mask']}"
        print(f"filled {region} of {len(done['files'])} picture(s) with {args.run} "
              f"({done['model']}); wrote {done['figure']}")
    return report_unusable(done["errors"])
