"""Ctrl-C as a request to stop training early and keep what was trained.

While the training epochs run, the ``train`` commands turn the first Ctrl-C (SIGINT)
into a flag that the loop reads at its next safe point (the classifier's next batch,
the GAN's end of epoch, the inpainting model's next step). The run then ends as if its
epochs were done: weights, final scores and figures are written. A second Ctrl-C
raises ``KeyboardInterrupt`` at once, as Ctrl-C does before and after the epochs.

Library calls leave Ctrl-C alone unless asked (``stop_on_ctrl_c=True``): a notebook's
"interrupt" still interrupts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


class StopRequest:
    """Set by the first Ctrl-C; the training loop reads ``requested``."""

    def __init__(self, message: str) -> None:
        self.requested = False
        self.message = message  # what stopping will do, shown on the first Ctrl-C

    def _on_sigint(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write(f"Ctrl-C: {self.message} (Ctrl-C again to quit at once)")


@contextmanager
def ctrl_c_stop(enabled: bool, message: str) -> Iterator[StopRequest]:
    """A ``StopRequest`` that the first Ctrl-C sets while the block runs.

    Nothing is installed when ``enabled`` is false, outside the main thread (Python
    delivers signals only there) or when SIGINT is ignored (``nohup``, a background job
    of a script): the request then stays unset and Ctrl-C keeps its old meaning.
    """
    stop = StopRequest(message)
    if not enabled or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield stop
        return
    previous = signal.signal(signal.SIGINT, stop._on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
