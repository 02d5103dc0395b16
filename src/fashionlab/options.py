"""Options: each setting declared once on its config dataclass, and KEY=VALUE values.

``option(...)`` declares a config field that is also a command-line option: its default,
help, flag and choices live on the field, and ``add_options`` builds the arguments of a
command from them (``given_options`` reads them back, ``refuse_with_resume`` checks them).

KEY=VALUE options (``--model-arg``, ``--param``) are read and written in one form.

The VALUE is JSON (``widths=[32,64]``, ``pool_first=true``, ``random_state=null``,
``missing_values=NaN``), else plain text. Messages and reports write values the same
way, so that what the toolkit shows can be typed back as an option.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from fashionlab.errors import FashionlabError, spoken_list


def parse_key_values(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """``["k=15", "s=text", "n=null"]`` as ``{"k": 15, "s": "text", "n": None}``: each VALUE
    read as JSON, else kept as text; ``option`` names the flag in errors."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FashionlabError(f"{option} wants KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values


def format_key_values(values: Mapping[str, Any]) -> str:
    """``{"widths": (32, 64), "flip": True}`` as ``widths=[32,64], flip=true``: each value in
    compact JSON (NumPy numbers as plain ones), or its ``repr`` when JSON has no form for
    it (a ``RandomState``)."""
    return ", ".join(f"{key}={_json(value)}" for key, value in values.items())


def _json(value: Any) -> str:
    def plain(v):
        if isinstance(v, np.generic):
            return v.item()
        raise TypeError

    try:
        return json.dumps(value, separators=(",", ":"), default=plain)
    except TypeError:
        return repr(value)


# --------------------------------------------------------------------------- declared options
#
# Each setting is declared once, as a field of its config dataclass:
#
#     lr: float = option(1e-3, "peak learning rate; 1e-3 is Adam's default")
#
# and the command line, the resume check and the help text are built from that field.

_KEY = "fashionlab"  # the field-metadata key that holds an option's declaration


@dataclass(frozen=True)
class Declaration:
    """How one config field appears on the command line."""

    help: str
    flag: str | None = None  # default: --field-name; a True bool: its --no-... flag
    choices: Sequence[Any] | None = None
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # argparse type (checks as the value is read)
    positional: bool = False
    shown_default: str | None = None  # what --help says the default is, when not the value


def option(default: Any = MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
           **declaration: Any) -> Any:
    """A config dataclass field that is also a command-line option (see ``Declaration``)."""
    metadata = {_KEY: Declaration(help, **declaration)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def declared(cls: type) -> list[tuple[Field, Declaration]]:
    """The fields of config class ``cls`` that are command-line options, in order."""
    return [(f, f.metadata[_KEY]) for f in fields(cls) if _KEY in f.metadata]


def flag_of(f: Field, declaration: Declaration) -> str:
    return declaration.flag or "--" + f.name.replace("_", "-")


def _base(annotation: Any) -> Any:
    """``int`` for ``int | None``; the origin for generics (``dict``, ``tuple``, ``list``)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        annotation = args[0]
    return get_origin(annotation) or annotation, get_args(annotation)


def add_options(parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = ()) -> None:
    """Add one argument per declared field of ``cls`` (except ``skip``). Defaults are left
    out of the namespace (``SUPPRESS``), so ``given_options`` tells what the user typed."""
    hints = get_type_hints(cls)
    for f, d in declared(cls):
        if f.name in skip:
            continue
        kind, args = _base(hints[f.name])
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        shown = d.shown_default if d.shown_default is not None else (
            None if default is None or isinstance(default, bool) or default in ({}, [], ()) else
            default if isinstance(default, str) else _json(default))
        text = d.help + (f" (default: {shown})" if shown else "")
        kwargs: dict[str, Any] = {"help": text.replace("%", "%%")}
        if d.positional:
            parser.add_argument(f.name, metavar=d.metavar, **kwargs)
            continue
        required = f.default is MISSING and f.default_factory is MISSING
        kwargs.update(dest=f.name, default=argparse.SUPPRESS, required=required)
        if d.parse is not None:
            kwargs.update(type=d.parse, choices=d.choices, metavar=d.metavar)
        elif kind is bool:
            kwargs["action"] = "store_false" if default else "store_true"
        elif kind is dict:
            kwargs.update(action="append", metavar=d.metavar or "KEY=VALUE")
        elif kind is tuple:
            kwargs.update(nargs=len(args), type=args[0], metavar=d.metavar)
        elif kind is list:
            kwargs.update(nargs="+", metavar=d.metavar)
        else:
            kwargs.update(type=d.parse or kind, choices=d.choices, metavar=d.metavar)
        parser.add_argument(flag_of(f, d), **kwargs)


def given_options(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The declared fields of ``cls`` the user gave, read as the field's type (KEY=VALUE
    lists as a dict, lists of numbers as tuples)."""
    hints, values = get_type_hints(cls), {}
    for f, d in declared(cls):
        if f.name not in vars(args):
            continue
        value, (kind, _) = getattr(args, f.name), _base(hints[f.name])
        if kind is dict:
            value = parse_key_values(value, flag_of(f, d))
        elif kind is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return values


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """``cls`` built from its defaults, the options given and ``overrides``."""
    return cls(**{**given_options(cls, args), **overrides})


def check_choices(config: Any) -> None:
    """A FashionlabError for the first declared field whose value is not one of its
    choices (a config built in Python is checked as the command line checks it)."""
    for f, d in declared(type(config)):
        value = getattr(config, f.name)
        if d.choices is not None and value is not None and value not in d.choices:
            raise FashionlabError(f"unknown {f.name} {value!r}; choose one of: "
                                  f"{', '.join(map(str, d.choices))}")


def refuse_with_resume(cls: type, given: dict[str, Any], stored: Mapping[str, Any],
                       allowed: Sequence[str], shown: Mapping[str, str] | None = None) -> None:
    """A resumed run keeps its settings: any option given (other than ``allowed``) whose
    value differs from the run's own is an error naming its flag (or ``shown[name]``),
    not silently ignored."""
    differ = [(shown or {}).get(f.name, flag_of(f, d)) for f, d in declared(cls)
              if f.name in given and f.name not in allowed
              and json.loads(_json(given[f.name])) != stored.get(f.name)]
    if differ:
        raise FashionlabError(f"{', '.join(differ)} cannot be given with --resume: "
                              f"{resume_keeps(cls, allowed)}")


def resume_keeps(cls: type, allowed: Sequence[str]) -> str:
    """What a resumed run of ``cls`` keeps: its settings, but for the ``allowed`` options."""
    flags = [flag_of(f, d) for f, d in declared(cls) if f.name in allowed]
    if not flags:
        return "a resumed run keeps its settings"
    return f"a resumed run keeps its settings (only {spoken_list(flags, 'and')} may change)"


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {value}")
    return value
