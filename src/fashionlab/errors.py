"""The one exception type for mistakes a user can make, and the shared option check.

The CLI prints ``error: <message>`` for it and exits with status 2, without a
traceback. Every message says what was wrong and what to do about it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class FashionlabError(Exception):
    """A user-facing error: bad input, missing data, a run folder that does not fit."""


def spoken_list(words: list[str], conjunction: str) -> str:
    """``words`` as a message names them: "a", "a or b", "a, b or c" (``conjunction``: or,
    and)."""
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def reject_non_finite(config: Any) -> None:
    """A FashionlabError for the first option of a config dataclass that is nan or infinite.

    ``--lr nan`` passes every ``lr <= 0`` test (nan compares false) and would train on
    NaNs; each config's ``validate`` calls this first.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        parts = value if isinstance(value, tuple | list) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in parts):
            raise FashionlabError(f"{field.name} must be a finite number, got {value}")
