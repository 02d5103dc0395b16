"""Commands about the whole project: models, runs, demo."""

from __future__ import annotations

import argparse

from fashionlab.errors import FashionlabError
from fashionlab.options import (
    add_options,
    config_from_args,
    format_key_values,
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
