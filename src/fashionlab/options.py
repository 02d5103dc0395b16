"""KEY=VALUE options (``--model-arg``, ``--param``), read and written in one form.

The VALUE is JSON (``widths=[32,64]``, ``pool_first=true``, ``random_state=null``,
``missing_values=NaN``), else plain text. Messages and reports write values the same
way, so that what the toolkit shows can be typed back as an option.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fashionlab.errors import FashionlabError


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
