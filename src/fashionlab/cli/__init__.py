"""The ``fashionlab`` command line: wiring only.

Each command builds a config from options declared once on its dataclass
(``fashionlab.options``) and calls one library function; the commands live beside
each other by product (``classifier``, ``gan``, ``impute``, ``project``). Errors a
user can cause are ``FashionlabError``: printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from fashionlab.runtime.threads import prepare_process

# Before anything imports torch (OpenMP reads its variables when it loads): the threads
# this process trains with, from the cores no other program is using (runtime/threads.py).
THREADS = prepare_process()

from fashionlab.cli import classifier, gan, impute, project  # noqa: E402
from fashionlab.errors import FashionlabError  # noqa: E402


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model into a run folder")
    tasks = p.add_subparsers(dest="task", required=True, metavar="TASK")
    classifier.add_train_classifier(tasks)
    gan.add_train_gan(tasks)




COMMANDS: Sequence[Callable[[argparse._SubParsersAction], None]] = (
    classifier.add_show,
    add_train,
    classifier.add_evaluate,
    classifier.add_audit_data,
    classifier.add_predict,
    project.add_models,
    project.add_runs,
    gan.add_generate,
    project.add_demo,
    gan.add_score,
    impute.add_impute,
    impute.add_impute_fit,
    impute.add_impute_apply,
    impute.add_inpaint,
    impute.add_fill,
    project.add_export,
    project.add_app,
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


def _threads():
    """The thread count ``THREADS`` chose, for the command (PyTorch's setting restored after);
    a no-op when the user set OMP_NUM_THREADS (or MKL_NUM_THREADS). ``--threads`` of a
    command still wins inside it."""
    from fashionlab.runtime.device import torch_threads

    return torch_threads(None if THREADS is None else THREADS.threads)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Library warnings (scikit-learn's ConvergenceWarning...) as one ``warning:`` line,
    like the ``error:`` lines, instead of a file name, a line number and source code."""
    return f"warning: {message}\n"


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` for an error of the operating system (``No space left on device``)."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(impute.impute_words(list(sys.argv[1:] if argv is None else argv)))
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        with _threads():
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
    except OSError as exc:  # disk full, permission denied...: the last resort, said in one line
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown

