"""What several commands share: --data-dir and --device for commands without a config,
--resume and --dry-run for every trainer, and the exit status of per-file errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.errors import FashionlabError
from fashionlab.options import add_options, refuse_with_resume, resume_keeps
from fashionlab.runtime.device import device_option


@dataclass
class _Where:
    """The data folder and device of commands that have no config of their own."""

    data_dir: str | None = data_dir_option()
    device: str = device_option()


def data_dir_argument(parser: argparse.ArgumentParser) -> None:
    add_options(parser, _Where, skip=("device",))
    parser.set_defaults(data_dir=_Where.data_dir)


def device_argument(parser: argparse.ArgumentParser) -> None:
    add_options(parser, _Where, skip=("data_dir",))
    parser.set_defaults(device=_Where.device)


def lifecycle_arguments(p: argparse.ArgumentParser, unit: str) -> None:
    """--resume and --dry-run, the same for every trainer."""
    p.add_argument("--resume", default=None, metavar="RUN",
                   help=f"continue this run from its last finished {unit}, with its own "
                   "settings (only --epochs, --device and --data-dir may be given with it)")
    p.add_argument("--dry-run", action="store_true",
                   help="every stage on a few images, in seconds (checks a setup end to end)")


def resume_check(cls, given: dict, args: argparse.Namespace, kind: str,
                  allowed: tuple[str, ...], shown: dict[str, str] | None = None) -> None:
    """A resumed run keeps its settings; --dry-run or --recipe cannot come with it."""
    from fashionlab.runtime.runs import read_config

    for flag, used in (("--dry-run", args.dry_run), ("--recipe", getattr(args, "recipe", None))):
        if used:
            raise FashionlabError(f"{flag} cannot be given with --resume: "
                                  f"{resume_keeps(cls, allowed)}")
    refuse_with_resume(cls, given, read_config(args.resume, kind).get("trainer", {}), allowed,
                       shown)


def report_unusable(records: Sequence[dict]) -> int:
    """An ``error:`` line on stderr for each record of an unusable picture (one with
    ``"error"``); the exit status: 2 when there was one, else 0."""
    failed = [record for record in records if "error" in record]
    for record in failed:
        print(f"error: {record['error']}", file=sys.stderr)
    return 2 if failed else 0
