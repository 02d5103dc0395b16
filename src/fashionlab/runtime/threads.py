"""How many CPU threads to train with: the cores this process may use that no other
process is using when it starts.

PyTorch's default is one OpenMP thread per core. When another program keeps a core
busy, the thread that shares that core runs only part of the time, and at the end of
every parallel operation the other threads wait for it, spinning (OpenMP's default) and
so taking more time from the very thread they wait for. On this project's 2-core machine,
with one other busy process, a step of the reference MLP took 100 times longer with two
threads than with one (docs/speed.md). So the command line (``fashionlab.cli``) counts
the cores busy with other work over a short sample of ``/proc/stat`` before it imports
PyTorch, and trains on the rest (at least one thread). When it finds the machine busy it
also makes OpenMP's idle threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``),
which costs nothing then and saves much if the load changes.

Nothing here imports torch: the OpenMP variables only count if set before it loads.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1  # long enough for 10 clock ticks per core at Linux's USER_HZ of 100
# Cores another program keeps busy cost a thread once their use passes this fraction of a
# core: an idle thread costs at most a core's share, a thread that has to share its core
# costs every parallel operation a wait, so the rule leans to fewer threads.
SHARE_TOLERATED = 0.25
# Variables through which a user has already chosen the thread count: then we choose nothing.
USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """What ``choose_threads`` decided and from what."""

    threads: int  # torch threads to use
    allowed: int  # cores this process may run on (affinity, CPU quota)
    busy: float | None  # cores other processes kept busy in the sample (None: unknown)

    @property
    def machine_busy(self) -> bool:
        return self.threads < self.allowed


def allowed_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota
    (a container limited to 2 CPUs on a 64-core host sees 64 cores in its affinity)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def read_cpu_times(text: str, cpus: set[int] | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks summed over the per-core lines of a ``/proc/stat`` text,
    for the cores in ``cpus`` (all when None). Idle and I/O wait are the idle ticks; time a
    hypervisor gave to another machine ("steal") counts as busy: the core was not ours."""
    busy = total = 0
    for line in text.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or len(fields) < 4:
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        ticks = [int(value) for value in fields[:8]]  # guest time is inside user already
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        busy += sum(ticks) - idle
        total += sum(ticks)
    return busy, total


def busy_cores(before: tuple[int, int], after: tuple[int, int], cores: int,
               own_ticks: float = 0.0) -> float:
    """Cores kept busy by other processes between two ``read_cpu_times`` samples of
    ``cores`` cores, this process's own ``own_ticks`` taken out."""
    total = after[1] - before[1]
    if total <= 0:
        return 0.0
    busy = max(0.0, after[0] - before[0] - own_ticks)
    return cores * busy / total


def threads_for(allowed: int, busy: float | None) -> int:
    """The thread count for ``allowed`` cores of which others keep ``busy`` busy: one
    fewer for each core in use beyond ``SHARE_TOLERATED`` of it, never under one."""
    if busy is None:
        return allowed
    taken = max(0, math.ceil(busy - SHARE_TOLERATED))
    return max(1, min(allowed, allowed - taken))


def measure_busy_cores(seconds: float = SAMPLE_SECONDS, stat: Path = Path("/proc/stat")
                       ) -> float | None:
    """Cores in this process's affinity that other processes keep busy, measured over
    ``seconds``; None where ``/proc/stat`` cannot be read (not Linux)."""
    try:
        cpus = os.sched_getaffinity(0)
        before, own_before = read_cpu_times(stat.read_text(), cpus), os.times()
        time.sleep(seconds)
        after, own_after = read_cpu_times(stat.read_text(), cpus), os.times()
    except (OSError, AttributeError, ValueError):
        return None
    own = (own_after.user + own_after.system - own_before.user - own_before.system)
    return busy_cores(before, after, len(cpus), own * os.sysconf("SC_CLK_TCK"))


def choose_threads(allowed: int | None = None, busy: float | None = None,
                   measure: bool = True) -> ThreadChoice:
    """The torch thread count for this process (``threads_for`` of the measurement)."""
    allowed = allowed_cores() if allowed is None else allowed
    if busy is None and measure:
        busy = measure_busy_cores()
    return ThreadChoice(threads_for(allowed, busy), allowed, busy)


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, for benchmark printouts ("n/a" off Unix)."""
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def prepare_process(environ: dict[str, str] | None = None) -> ThreadChoice | None:
    """For the command line, before torch is imported: choose the thread count, and when
    other work is running make OpenMP's waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``,
    unless the variable is set). None, and nothing changed, when the user chose the
    threads through ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``."""
    environ = os.environ if environ is None else environ
    if any(name in environ for name in USER_THREAD_VARIABLES):
        return None
    choice = choose_threads()
    if choice.machine_busy:
        environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return choice
