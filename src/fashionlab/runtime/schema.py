"""Check settings read from a file against the field types of a config dataclass.

A run's config.json is read back by ``evaluate``, ``predict``, ``generate``, ``fill`` and
``--resume``. A hand-edited or damaged one (``"tta_flip": "no"``, ``"model_args": []``,
``"tta_shift": "abc"``) must be a one-line error that names the setting, never a
traceback, and never a silent reading (``bool("no")`` is True). ``check_fields`` reads
the types from the dataclass annotations, so every config kind is checked by the same
function, and a new field is checked as soon as it is declared.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from fashionlab.errors import FashionlabError


def check_fields(cls: type, values: Any, where: str,
                 extra: Mapping[str, Any] | None = None) -> None:
    """Raise a FashionlabError unless ``values`` is a mapping whose entries named like a
    field of the dataclass ``cls`` (or a key of ``extra``, name -> type) hold a value of
    that type, as JSON writes it (a list for a tuple, text for a path, a whole number for
    a float). Other entries are left alone (settings of newer or older versions)."""
    if not isinstance(values, Mapping):
        raise FashionlabError(f"{where} must be a JSON object of settings, got "
                              f"{_show(values)}")
    hints = typing.get_type_hints(cls)
    wanted = {f.name: hints[f.name] for f in fields(cls)} | dict(extra or {})
    for name, value in values.items():
        if name in wanted and not _matches(value, wanted[name]):
            raise FashionlabError(f"{where}: {name} must be {describe(wanted[name])}, got "
                                  f"{_show(value)}; fix the file or start a new run")


def _matches(value: Any, kind: Any) -> bool:
    """Whether the JSON value ``value`` fits the annotation ``kind``."""
    if kind is Any:
        return True
    if kind is None or kind is type(None):
        return value is None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str or kind is Path:
        return isinstance(value, str)
    if kind is dict or origin is dict:
        return isinstance(value, dict) and (not args or all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()))
    if kind in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    return True  # a type JSON cannot name: the config's validate() checks it


def describe(kind: Any) -> str:
    """An annotation as a person reads it: ``int | None`` -> "a whole number or null"."""
    if kind is Any:
        return "any value"
    if kind is None or kind is type(None):
        return "null"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text",
             Path: "text (a path)", dict: "a JSON object", list: "a list", tuple: "a list"}
    if kind in names:
        return names[kind]
    if origin is dict:
        return "a JSON object"
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values ({', '.join(map(describe, args))})"
        return f"a list, each {describe(args[0])}" if args else "a list"
    return getattr(kind, "__name__", str(kind))


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
