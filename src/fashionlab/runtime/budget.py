"""Time budgets, counted in wall seconds or in this process's CPU seconds.

CPU seconds are the fair measure between methods on a shared machine: a process that waits
for a core does not spend its budget waiting.
"""

from __future__ import annotations

import time

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class Budget:
    """``seconds`` on ``clock`` ("wall" or "cpu"), counted from creation; None: no limit."""

    def __init__(self, seconds: float | None, clock: str = "wall") -> None:
        self.seconds = seconds
        self._now = CLOCKS[clock]
        self._start = self._now()

    def spent(self) -> float:
        """Seconds spent since creation, on the budget's clock."""
        return self._now() - self._start

    def fraction(self) -> float:
        """The share of the budget spent (0 without a limit)."""
        return 0.0 if self.seconds is None else self.spent() / self.seconds

    def over(self, share: float = 1.0) -> bool:
        """True once ``share`` of the budget is spent (never without a limit)."""
        return self.seconds is not None and self.spent() >= share * self.seconds
