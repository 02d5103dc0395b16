"""Commands about the whole project: models, runs, demo, export, app."""

from __future__ import annotations

import argparse

from fashionlab.errors import FashionlabError
from fashionlab.options import (
    add_options,
    config_from_args,
    format_key_values,
    positive_int,
)


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models with their parameter counts",
                       description="List the registered models; with NAME, the options of that "
                       "model (--model-arg KEY=VALUE) and their defaults.")
    p.add_argument("name", nargs="?", help="one model: its options")
    p.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> None:
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


def add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list the run folders under a folder: what each is, how "
                       "far it trained, its result, whether --resume can continue it")
    p.add_argument("folders", nargs="*", default=["runs"], metavar="FOLDER",
                   help="folders to search (each may itself be a run) (default: runs)")
    p.set_defaults(func=run_runs)


def run_runs(args: argparse.Namespace) -> None:
    from fashionlab.runtime.run_table import find_runs, format_run_table, summarize_run

    runs = find_runs(args.folders)
    if not runs:
        raise FashionlabError(f"no run folder in {', '.join(args.folders)} (a run folder holds "
                              "the config.json of a `fashionlab train` or `inpaint` run)")
    print(format_run_table([summarize_run(run) for run in runs]))


def add_demo(sub: argparse._SubParsersAction) -> None:
    from fashionlab.report.context import DemoConfig

    p = sub.add_parser("demo", help="run the whole project story and write an HTML report")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="profile", const="quick",
                      help="every section in about 3 minutes on 2 CPU cores (CI)")
    size.add_argument("--full", action="store_const", dest="profile", const="full",
                      help="the long versions (20-epoch classifier, 100-epoch GAN, best CNN)")
    add_options(p, DemoConfig)
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> None:
    from fashionlab.report.demo import DemoConfig, run_demo

    run_demo(config_from_args(DemoConfig, args, profile=args.profile or "default"))


def add_export(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> None:
    from fashionlab.export import export_run

    done = export_run(args.run, args.out, args.format, args.best)
    inputs = ", ".join(f"{k} {v}" for k, v in done["inputs"].items())
    outputs = ", ".join(f"{k} {v}" for k, v in done["outputs"].items())
    print(f"wrote {done['out']}: the {done['model']} {done['kind']} of {done['run']}; "
          f"inputs {inputs}; outputs {outputs}")


def add_app(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> None:
    try:
        from fashionlab.app.page import serve
    except ImportError as exc:
        raise FashionlabError(f'the app needs Gradio: pip install -e ".[app]" ({exc})') from None
    serve(args.runs, args.host, args.port)
