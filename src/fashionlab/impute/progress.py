"""Progress bars for long imputations, shown only where a command asks for them.

The imputers keep scikit-learn's contract (they print nothing of their own): each long
loop opens a ``bar`` and ticks it, and the bar stays silent unless the caller wrapped the
work in ``shown()``. ``fashionlab impute`` does, so a long fit shows on stderr how far it
is and tqdm's estimate of the time left (from the rate so far).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

MININTERVAL = 1.0  # seconds between two redraws of a bar

_SHOWN: ContextVar[bool] = ContextVar("fashionlab_impute_progress_shown", default=False)
_OPEN: list[tqdm] = []  # the open bars, innermost last: a plain list, not a context
#                          variable, so that the worker threads of a forest tick them too


@contextmanager
def shown() -> Iterator[None]:
    """Show the bars that the imputers open inside this block (on stderr)."""
    token = _SHOWN.set(True)
    try:
        yield
    finally:
        _SHOWN.reset(token)


@contextmanager
def bar(total: int, desc: str, unit: str = "step") -> Iterator[tqdm]:
    """A tqdm bar of ``total`` ``unit``s, silent outside ``shown()``; ``tick`` advances the
    innermost open bar (for loops inside a library, as scikit-learn's)."""
    progress = tqdm(total=total, desc=desc, unit=unit, leave=False, mininterval=MININTERVAL,
                    disable=not _SHOWN.get())
    _OPEN.append(progress)
    try:
        yield progress
    finally:
        _OPEN.remove(progress)
        progress.close()


def tick(n: int = 1) -> None:
    """Advance the innermost open ``bar`` by ``n`` (nothing when none is open); tqdm's
    own lock makes it safe from several threads."""
    if _OPEN:
        _OPEN[-1].update(n)
